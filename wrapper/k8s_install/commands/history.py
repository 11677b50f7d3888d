"""history, show, status, drift: reading the record the cluster repo (and the cluster) keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from k8s_install import clusterstate, config, drift, gitrepo, record, state
from k8s_install.commands.common import config_option, json_option, output
from k8s_install.output import Output

RESULT_COLOURS = {"successful": "green", "interrupted": "yellow"}


def _root(config_path: Path) -> Path:
    """The cluster repo; history and show work even when cluster.yaml does not validate."""
    return config_path.resolve().parent


def _wide(out: Output) -> Console:
    """out's console, or one 120 columns wide when output is not a terminal (CI logs, pipes)."""
    if out.console.is_terminal:
        return out.console
    return Console(width=120, highlight=False, soft_wrap=True)


def _e(value: object) -> str:
    """Data shown inside rich markup: brackets in a task name or message must stay literal."""
    return escape(str(value))


def _colour(result: str) -> str:
    return f"[{RESULT_COLOURS.get(result, 'red')}]{result}[/]"


def _summary(entry: dict[str, Any], commits: dict[str, str], root: Path) -> dict[str, Any]:
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
        "record": str(record.record_path(root, run_id)),
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
    commits = record.commits_by_run(root)
    records = record.all_records(root)
    shown = records if limit <= 0 else records[:limit]
    rows = [_summary(r, commits, root) for r in shown]
    if out.json_mode:
        out.emit({"repo": str(root), "total": len(records), "runs": rows})
        return
    if not rows:
        out.info(f"no runs recorded in {_e(root / record.RUNS_DIR)} yet")
        return
    table = Table(title=f"Runs recorded in {_e(root)}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("run id", "started", "command", "result", "changed", "failed", "commit"):
        table.add_column(column, no_wrap=column in ("run id", "started", "commit"))
    for r in rows:
        table.add_row(
            str(r["run_id"]),
            str(r["started"]).replace("T", " ").removesuffix("+00:00"),
            str(r["command"]),
            _colour(str(r["result"])) + (" [dim](applied)[/dim]" if r["applied"] else ""),
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
    entry = record.find(root, run)
    run_id = str(entry["run_id"])
    log = root / str(entry.get("log") or f".k8s-install/artifacts/{run_id}/")
    commit = record.commits_by_run(root).get(run_id, "")
    if out.json_mode:
        out.emit(
            {
                "record": entry,
                "record_path": str(record.record_path(root, run_id)),
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
        f"[bold]run {entry['run_id']}[/bold]: {entry.get('command')} {_colour(entry['result'])}"
    )
    out.info(
        f"  started {entry.get('started')}, ended {entry.get('ended')} "
        f"({entry.get('duration_seconds')} s), by {_e(entry.get('operator', '?'))}"
    )
    out.info(
        f"  cluster {_e(cluster.get('name'))} (digest {str(cluster.get('digest', ''))[:12]}), "
        f"engine {versions.get('engine')}, bundle {versions.get('bundle') or '-'}, "
        f"k8s-install {versions.get('k8s_install')}"
    )
    out.info(
        f"  applied: {'yes' if entry.get('applied') else 'no'}; "
        f"commit: {commit[:12] if commit else 'not committed'}"
    )
    if entry.get("stopped_at"):
        out.info(f"  stopped at {_e(entry['stopped_at'])}")
    hosts = entry.get("hosts") or {}
    if hosts:
        out.table(
            "Hosts",
            ["host", "ok", "changed", "failed", "unreachable", "skipped"],
            [
                [
                    _e(name),
                    *(h.get(k, 0) for k in ("ok", "changed", "failed", "unreachable", "skipped")),
                ]
                for name, h in sorted(hosts.items())
            ],
        )
    if entry.get("slowest_tasks"):
        out.table(
            "Slowest tasks",
            ["seconds", "host", "task"],
            [[t["seconds"], _e(t["host"]), _e(t["task"])] for t in entry["slowest_tasks"]],
        )
    for failure in entry.get("failures") or []:
        out.info(
            f"  [red]{_e(failure['kind'])}[/] {_e(failure['host'])}: {_e(failure['task'])}: "
            f"{_e(failure['message'])}"
        )
    for key, value in (entry.get("extra") or {}).items():
        out.info(f"  {_e(key)}: {_e(value)}")
    where = "" if log.is_dir() else " (not on this machine: logs stay where the run ran)"
    out.info(f"  log: {_e(log)}{where}")


# status


def _pending(cluster: config.Cluster, applied: dict[str, Any] | None) -> dict[str, Any]:
    """The plan from applied to cluster.yaml (issue 4's plan module), as a dict."""
    from k8s_install import plan

    return plan.compare(cluster.spec, applied).as_dict()


def status_document(
    cluster: config.Cluster, cluster_record: clusterstate.ClusterRecord | None
) -> dict[str, Any]:
    root = cluster.root
    applied = state.applied_spec(root)
    applied_digest = state.digest(applied) if applied is not None else ""
    records = record.all_records(root)
    commits = record.commits_by_run(root)
    latest = records[0] if records else None
    last_applied = next((r for r in records if r.get("applied")), None)
    uncommitted = (
        [path for _code, path in record.dirty_files(cluster)] if gitrepo.is_repo(root) else []
    )
    git_side = {
        "applied": applied is not None,
        "applied_digest": applied_digest,
        "last_applied_run": _summary(last_applied, commits, root) if last_applied else None,
        "latest_run": _summary(latest, commits, root) if latest else None,
        "uncommitted": uncommitted,
        "repo": gitrepo.is_repo(root),
    }
    in_sync = applied is not None and applied_digest == cluster.digest()
    doc: dict[str, Any] = {
        "cluster": cluster.name,
        "config": str(cluster.path),
        "current_digest": cluster.digest(),
        "in_sync": in_sync,
        "git": git_side,
        "pending": _pending(cluster, applied),
        "cluster_record": (
            cluster_record.as_dict()
            if cluster_record is not None
            else {**clusterstate.ClusterRecord(False, "not asked (--no-cluster)").as_dict()}
        ),
        "disagreements": [],
    }
    if cluster_record is not None:
        git_view = (
            {"run_id": latest["run_id"], "applied_digest": applied_digest} if latest else None
        )
        doc["disagreements"] = clusterstate.compare(git_view, cluster_record)
    return doc


@click.command()
@config_option
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the cluster's record with this kubeconfig (default: K8S_INSTALL_KUBECONFIG, "
    ".k8s-install/kubeconfig/admin.conf, else kubectl on the first control plane over SSH).",
)
@click.option(
    "--no-cluster", is_flag=True, help="Only read Git: do not ask the cluster for its record."
)
@json_option
def status(config_path: Path, kubeconfig: Path | None, no_cluster: bool) -> None:
    """What Git says is applied, what cluster.yaml now asks for, and what the cluster says.

    Pending changes are the plan from state/applied.yaml to cluster.yaml. The
    cluster's own record (kube-system/k8s-install-state) is read back and
    compared with Git; when the cluster cannot be reached, status says so and
    still shows the Git side.

    \b
    Examples:
      k8s-install status
      k8s-install status --no-cluster --json
      k8s-install status --kubeconfig ~/.kube/prod.conf
    """
    out = output()
    cluster = config.load(config_path)
    cluster_record = None if no_cluster else clusterstate.read(cluster, kubeconfig)
    doc = status_document(cluster, cluster_record)
    if out.json_mode:
        out.emit(doc)
        return
    _show_status(out, doc)


def _show_status(out: Output, doc: dict[str, Any]) -> None:
    git_side = doc["git"]
    out.info(f"[bold]{doc['cluster']}[/bold] ({_e(doc['config'])})")
    last = git_side["last_applied_run"]
    if git_side["applied"] and last:
        out.info(
            f"  Git: applied by run {last['run_id']} ({last['command']}, {last['ended']}), "
            f"digest {git_side['applied_digest'][:12]}"
        )
    elif git_side["applied"]:
        out.info(f"  Git: applied digest {git_side['applied_digest'][:12]}")
    else:
        out.info("  Git: nothing applied yet")
    latest = git_side["latest_run"]
    if latest and latest is not last and latest != last:
        out.info(
            f"  latest run: {latest['run_id']} ({latest['command']}) {_colour(latest['result'])}"
        )
    if doc["in_sync"]:
        out.info("  cluster.yaml: [green]matches what was applied[/green]")
    else:
        actions = doc["pending"].get("actions") or []
        out.info(f"  cluster.yaml: [yellow]{len(actions)} pending action(s)[/yellow]")
        for action in actions:
            out.info(f"    - {_e(action['kind'])}: {_e(action['summary'])}")
        for problem in doc["pending"].get("problems") or []:
            out.info(f"    [red]blocked[/red] {_e(problem['path'])}: {_e(problem['message'])}")
    for path in git_side["uncommitted"]:
        out.warn(f"uncommitted change in {_e(path)}")
    record_side = doc["cluster_record"]
    if not record_side["reachable"]:
        out.info(f"  cluster: [yellow]unknown[/yellow]: {_e(record_side['message'])}")
    elif not record_side["run_id"]:
        out.info(f"  cluster: {_e(record_side['message'])}")
    else:
        out.info(
            f"  cluster: run {record_side['run_id']} ({record_side['result']}), "
            f"digest {record_side['applied_digest'][:12] or '(none)'}"
        )
    if doc["disagreements"]:
        out.warn("Git and the cluster disagree:")
        for line in doc["disagreements"]:
            out.info(f"    - {_e(line)}")
    elif record_side["reachable"] and record_side["run_id"]:
        out.info("  [green]Git and the cluster agree[/green]")


# drift


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
    cluster = config.load(config_path)
    report = drift.detect(cluster, out, addons=not no_addons)
    if out.json_mode:
        out.emit(report.as_dict())
    else:
        _show_drift(out, report)
    raise click.exceptions.Exit(int(report.exit_code))


def _show_drift(out: Output, report: drift.DriftReport) -> None:
    if not report.run_id:
        for note in report.notes:
            out.info(_e(note))
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
            out.info(f"  {_e(item.path or item.task)}  [dim]({_e(item.task)})[/dim]")
            for line in item.diff.splitlines():
                colour = "red" if line.startswith("-") else "green" if line.startswith("+") else ""
                text = escape(line)
                out.info(f"    [{colour}]{text}[/]" if colour else f"    {text}")
        for entry in unchecked:
            out.info(f"  [yellow]cannot check[/yellow] {_e(entry.task)}: {_e(entry.reason)}")
    for addon in report.addons:
        name = f"{addon.get('namespace', '')}/{addon.get('name', '')}".strip("/")
        colour = "red" if addon.get("status") in drift.ADDON_DRIFT else "green"
        out.info(f"[{colour}]addon {_e(name)}: {_e(addon.get('status'))}[/]")
        for key in ("values_diff", "manifest_diff"):
            for line in str(addon.get(key) or "").splitlines()[:50]:
                out.info(f"    {escape(line)}")
    for note in report.notes:
        out.info(f"[dim]{_e(note)}[/dim]")
    verdict = "[red]drift found[/red]" if report.has_drift else "[green]no drift[/green]"
    out.info(f"{verdict}; log: {_e(report.log)}")


COMMANDS: list[click.Command] = [history, show, status, drift_command]
