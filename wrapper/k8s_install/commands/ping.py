"""ping: an SSH and become check of every node, through the runner driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from k8s_install.ansible import actions, runner
from k8s_install.commands.common import config_option, json_option, load_cluster, output


def host_results(result: runner.RunResult) -> dict[str, dict[str, Any]]:
    """Per host: ok, unreachable or failed, with the first message."""
    report: dict[str, dict[str, Any]] = {}
    for host, stats in sorted(result.hosts.items()):
        status = "unreachable" if stats.unreachable else "failed" if stats.failures else "ok"
        report[host] = {"status": status, "message": ""}
    for failure in result.failures:
        entry = report.setdefault(failure["host"], {"status": "failed", "message": ""})
        if not entry["message"]:
            entry["message"] = f"{failure['task']}: {failure['message']}".strip()
    return report


@click.command()
@config_option
@json_option
def ping(config_path: Path) -> None:
    """Check every node answers over SSH, runs Python, and can become root.

    Uses the same SSH settings as every other run (key, known_hosts, user,
    bastion). Exits 0 when all nodes pass, 3 when some are unreachable,
    1 when some fail the become check, 2 when cluster.yaml is invalid.

    \b
    Examples:
      k8s-install ping
      k8s-install ping -c clusters/prod/cluster.yaml --json
    """
    out = output()
    cluster = load_cluster(config_path)
    # A vaulted become password (access.become_password_vault_file) needs the vault password
    # file (the row's vault); a missing one is reported before any host is contacted.
    request = actions.request(cluster, "ping", "ping")
    result = runner.run_playbook(request)
    report = host_results(result)
    for node in cluster.nodes:  # a node the run never reached still gets a row
        report.setdefault(node.name, {"status": "unreachable", "message": "no result"})
    if out.json_mode:
        out.emit({**result.as_dict(), "nodes": report})
    else:
        colours = {"ok": "green", "unreachable": "red", "failed": "red"}
        out.table(
            f"ping {cluster.name}",
            ["node", "result", "message"],
            [
                [name, f"[{colours[r['status']]}]{r['status']}[/]", r["message"]]
                for name, r in sorted(report.items())
            ],
        )
    raise click.exceptions.Exit(int(result.exit_code))


COMMANDS: list[click.Command] = [ping]
