"""history and show: the runs recorded in the cluster repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from k8s_install.base.output import Output
from k8s_install.commands.common import (
    coloured_result,
    config_option,
    escaped,
    json_option,
    output,
)
from k8s_install.records import runs


def _root(config_path: Path) -> Path:
    """The cluster repo; history and show work even when cluster.yaml does not validate."""
    return config_path.resolve().parent


def _wide(out: Output) -> Console:
    """out's console, or one 120 columns wide when output is not a terminal (CI logs, pipes)."""
    if out.console.is_terminal:
        return out.console
    return Console(width=120, highlight=False, soft_wrap=True)


def run_summary(entry: dict[str, Any], commits: dict[str, str], root: Path) -> dict[str, Any]:
    run_id = str(entry["run_id"])
    return {
        "run_id": run_id,
        "command": entry.get("command", ""),
        "result": entry.get("result", ""),
        "applied": bool(entry.get("applied")),
        "started": entry.get("started", ""),
        "ended": entry.get("ended", ""),
        "duration_seconds": entry.get("duration_seconds", 0),
        "changed": (entry.get("totals") or {}).get("changed", 0),
        "failed": (entry.get("totals") or {}).get("failed", 0),
        "engine": (entry.get("versions") or {}).get("engine", ""),
        "commit": commits.get(run_id, ""),
        "record": str(runs.record_path(root, run_id)),
    }


@click.command()
@config_option
@click.option(
    "-n", "--limit", default=20, show_default=True, help="How many runs to list (0: all)."
)
@json_option
def history(config_path: Path, limit: int) -> None:
    """List the runs recorded in the cluster repo, newest first.

    Every command that changes the cluster (up, scale, upgrade, ...) leaves a
    record under runs/ and a commit with `Run-Id:` and `Result:` trailers.

    \b
    Examples:
      k8s-install history
      k8s-install history -n 0 --json
      git log --format='%h %(trailers:key=Run-Id,valueonly)' -- runs/
    """
    out = output()
    root = _root(config_path)
    commits = runs.commits_by_run(root)
    records = runs.all_records(root)
    shown = records if limit <= 0 else records[:limit]
    rows = [run_summary(r, commits, root) for r in shown]
    if out.json_mode:
        out.emit({"repo": str(root), "total": len(records), "runs": rows})
        return
    if not rows:
        out.info(f"no runs recorded in {escaped(root / runs.RUNS_DIR)} yet")
        return
    table = Table(
        title=f"Runs recorded in {escaped(root)}", title_justify="left", box=box.SIMPLE_HEAD
    )
    for column in ("run id", "started", "command", "result", "changed", "failed", "commit"):
        table.add_column(column, no_wrap=column in ("run id", "started", "commit"))
    for r in rows:
        table.add_row(
            str(r["run_id"]),
            str(r["started"])[:19].replace("T", " "),
            str(r["command"]),
            coloured_result(str(r["result"])) + (" [dim](applied)[/dim]" if r["applied"] else ""),
            str(r["changed"]),
            str(r["failed"]),
            str(r["commit"])[:10] or "[yellow]not committed[/]",
        )
    _wide(out).print(table)
    if len(records) > len(rows):
        out.info(f"{len(records) - len(rows)} older run(s) not shown; -n 0 lists all")


@click.command()
@click.argument("run", default="latest")
@config_option
@json_option
def show(run: str, config_path: Path) -> None:
    """Show one run: its summary, hosts, slowest tasks, failures and where its log is.

    RUN is a run id, a unique prefix of one, or `latest` (the default).
    The full log stays on the machine that ran it, under .k8s-install/artifacts/.

    \b
    Examples:
      k8s-install show
      k8s-install show 20261122T0301
      k8s-install show latest --json
    """
    out = output()
    root = _root(config_path)
    entry = runs.find(root, run)
    run_id = str(entry["run_id"])
    log = root / str(entry.get("log") or f".k8s-install/artifacts/{run_id}/")
    commit = runs.commits_by_run(root).get(run_id, "")
    if out.json_mode:
        out.emit(
            {
                "record": entry,
                "record_path": str(runs.record_path(root, run_id)),
                "commit": commit,
                "log": str(log),
                "log_present": log.is_dir(),
            }
        )
        return
    _show_record(out, entry, commit, log)


def _show_record(out: Output, entry: dict[str, Any], commit: str, log: Path) -> None:
    versions = entry.get("versions") or {}
    cluster = entry.get("cluster") or {}
    out.info(
        f"[bold]run {entry['run_id']}[/bold]: {entry.get('command')} {coloured_result(entry['result'])}"
    )
    out.info(
        f"  started {entry.get('started')}, ended {entry.get('ended')} "
        f"({entry.get('duration_seconds')} s), by {escaped(entry.get('operator', '?'))}"
    )
    out.info(
        f"  cluster {escaped(cluster.get('name'))} (digest {str(cluster.get('digest', ''))[:12]}), "
        f"engine {versions.get('engine')}, bundle {versions.get('bundle') or '-'}, "
        f"k8s-install {versions.get('k8s_install')}"
    )
    out.info(
        f"  applied: {'yes' if entry.get('applied') else 'no'}; "
        f"commit: {commit[:12] if commit else 'not committed'}"
    )
    if entry.get("stopped_at"):
        out.info(f"  stopped at {escaped(entry['stopped_at'])}")
    hosts = entry.get("hosts") or {}
    if hosts:
        out.table(
            "Hosts",
            ["host", "ok", "changed", "failed", "unreachable", "skipped"],
            [
                [
                    escaped(name),
                    *(h.get(k, 0) for k in ("ok", "changed", "failed", "unreachable", "skipped")),
                ]
                for name, h in sorted(hosts.items())
            ],
        )
    if entry.get("slowest_tasks"):
        out.table(
            "Slowest tasks",
            ["seconds", "host", "task"],
            [
                [t["seconds"], escaped(t["host"]), escaped(t["task"])]
                for t in entry["slowest_tasks"]
            ],
        )
    for failure in entry.get("failures") or []:
        out.info(
            f"  [red]{escaped(failure['kind'])}[/] {escaped(failure['host'])}: {escaped(failure['task'])}: "
            f"{escaped(failure['message'])}"
        )
    for key, value in (entry.get("extra") or {}).items():
        out.info(f"  {escaped(key)}: {escaped(value)}")
    where = "" if log.is_dir() else " (not on this machine: logs stay where the run ran)"
    out.info(f"  log: {escaped(log)}{where}")


COMMANDS: list[click.Command] = [history, show]
