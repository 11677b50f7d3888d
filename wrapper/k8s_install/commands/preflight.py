"""preflight: check every node before anything changes."""

from __future__ import annotations

from pathlib import Path

import click

from k8s_install.ansible import actions, runner
from k8s_install.base.errors import ExitCode
from k8s_install.base.output import Output
from k8s_install.checks import preflight
from k8s_install.commands.common import config_option, json_option, load_cluster, output

STATUS_COLOURS = {"error": "red", "warning": "yellow", "ok": "green"}


def _exit(code: ExitCode | int) -> None:
    raise click.exceptions.Exit(int(code))


@click.command("preflight")
@config_option
@click.option("--limit", help="Only these nodes (an Ansible host pattern).")
@click.option("--problems-only", is_flag=True, help="Show only errors and warnings.")
@json_option
def preflight_command(config_path: Path, limit: str | None, problems_only: bool) -> None:
    """Check every node before anything changes; changes nothing itself.

    SSH, passwordless sudo, OS and architecture, CPU/memory/disk per role, swap,
    time sync, unique hostnames/MACs/product_uuid, free ports, kernel modules and
    sysctls, the cluster.yaml address being on the host, DNS, node-to-node
    reachability and conflicting container runtimes; one table, with a fix for
    every problem. `k8s-install up` runs the same checks first.

    Exits 0 when nothing is an error (warnings pass), 2 when a check is an error,
    3 when a node is unreachable (its checks could not run).

    \b
    Examples:
      k8s-install preflight
      k8s-install preflight --problems-only
      k8s-install preflight --limit cp1 --json
    """
    out = output()
    cluster = load_cluster(config_path)
    request = actions.request(
        cluster,
        "preflight",
        "preflight",
        limit=limit,
        extravars={"preflight_fail_on_error": False},
    )
    result = runner.run_playbook(request)
    report = preflight.report(cluster, result, limit=limit)
    if out.json_mode:
        out.emit({**report.as_dict(), "run": result.as_dict()})
    else:
        _preflight_table(out, cluster.name, report, problems_only)
    _exit(report.exit_code)


def _preflight_table(out: Output, name: str, report: preflight.Report, problems_only: bool) -> None:
    rows = [c for c in report.checks if not problems_only or c.status != "ok"]
    out.table(
        f"preflight {name}",
        ["host", "check", "status", "message", "fix"],
        [
            [c.host, c.check, f"[{STATUS_COLOURS[c.status]}]{c.status}[/]", c.message, c.fix]
            for c in rows
        ],
    )
    summary = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    if report.unreachable:
        summary += f", unreachable: {', '.join(report.unreachable)}"
    out.info(summary)


COMMANDS: list[click.Command] = [preflight_command]
