"""drift: what on the hosts and in the addons differs from what Git says is applied."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from k8s_install.addons import drift as addons_drift
from k8s_install.base.output import Output
from k8s_install.checks import drift
from k8s_install.commands.common import (
    config_option,
    escaped,
    json_option,
    load_cluster,
    output,
)


@click.command("drift")
@config_option
@click.option("--no-addons", is_flag=True, help="Check the hosts only, not the addon releases.")
@json_option
def drift_command(config_path: Path, no_addons: bool) -> None:
    """Show what on the hosts and in the addons differs from what Git says is applied.

    Runs our roles in Ansible check-and-diff mode against state/applied.yaml and
    compares live addon releases with rendered/addons/. Changes nothing. Tasks
    check mode cannot judge (command/shell tasks, tasks failing only in check
    mode) are listed as "cannot check", apart from drift.
    Exits 2 when something drifted, 3 when hosts were unreachable, else 0.

    \b
    Examples:
      k8s-install drift
      k8s-install drift --json > drift.json
      k8s-install drift --no-addons
    """
    out = output()
    cluster = load_cluster(config_path)
    report = drift.detect(cluster, out, addons=not no_addons)
    if out.json_mode:
        out.emit(report.as_dict())
    else:
        _show_drift(out, report)
    raise click.exceptions.Exit(int(report.exit_code))


def _show_drift(out: Output, report: drift.DriftReport) -> None:
    if not report.run_id:
        for note in report.notes:
            out.info(escaped(note))
        return
    out.info(f"compared with {report.compared_with}")
    for host in report.hosts:
        items = [d for d in report.drifted if d.host == host]
        unchecked = [u for u in report.unchecked if u.host == host]
        if host in report.unreachable:
            out.info(f"[magenta]{host}: unreachable[/magenta], not checked")
            continue
        out.info(f"[red]{host}: drifted[/red]" if items else f"[green]{host}: in sync[/green]")
        for item in items:
            out.info(f"  {escaped(item.path or item.task)}  [dim]({escaped(item.task)})[/dim]")
            for line in item.diff.splitlines():
                colour = "red" if line.startswith("-") else "green" if line.startswith("+") else ""
                text = escape(line)
                out.info(f"    [{colour}]{text}[/]" if colour else f"    {text}")
        for entry in unchecked:
            out.info(
                f"  [yellow]cannot check[/yellow] {escaped(entry.task)}: {escaped(entry.reason)}"
            )
    for addon in report.addons:
        name = f"{addon.get('namespace', '')}/{addon.get('name', '')}".strip("/")
        colour = "red" if addon.get("status") in drift.ADDON_DRIFT else "green"
        out.info(f"[{colour}]addon {escaped(name)}: {escaped(addon.get('status'))}[/]")
        for key in ("values_diff", "manifest_diff"):
            for line in str(addon.get(key) or "").splitlines()[:50]:
                out.info(f"    {escape(line)}")
        for line in addons_drift.summary_lines([addon]):
            out.info(f"    [red]{escaped(line.split(': ', 1)[1])}[/red]")
    for note in report.notes:
        out.info(f"[dim]{escaped(note)}[/dim]")
    verdict = "[red]drift found[/red]" if report.has_drift else "[green]no drift[/green]"
    out.info(f"{verdict}; log: {escaped(report.log)}")


COMMANDS: list[click.Command] = [drift_command]
