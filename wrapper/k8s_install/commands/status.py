"""status: what Git says is applied, what cluster.yaml asks for, and what the cluster says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from k8s_install.base.output import Output
from k8s_install.commands.common import (
    coloured_result,
    config_option,
    escaped,
    json_option,
    load_cluster,
    output,
)
from k8s_install.commands.history import run_summary
from k8s_install.lifecycle import plan
from k8s_install.model import config
from k8s_install.records import applied_file, git_repo, in_cluster, runs


def _pending(cluster: config.Cluster, applied: dict[str, Any] | None) -> dict[str, Any]:
    """The lifecycle plan from applied to cluster.yaml, as a dict."""
    return plan.compare(cluster.spec, applied).as_dict()


def status_document(
    cluster: config.Cluster, cluster_record: in_cluster.ClusterRecord | None
) -> dict[str, Any]:
    root = cluster.root
    applied = applied_file.applied_spec(root)
    applied_digest = applied_file.digest(applied) if applied is not None else ""
    records = runs.all_records(root)
    commits = runs.commits_by_run(root)
    latest = records[0] if records else None
    last_applied = next((r for r in records if r.get("applied")), None)
    uncommitted = (
        [path for _code, path in runs.dirty_files(cluster)] if git_repo.is_repo(root) else []
    )
    git_side = {
        "applied": applied is not None,
        "applied_digest": applied_digest,
        "last_applied_run": run_summary(last_applied, commits, root) if last_applied else None,
        "latest_run": run_summary(latest, commits, root) if latest else None,
        "uncommitted": uncommitted,
        "repo": git_repo.is_repo(root),
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
            else {**in_cluster.ClusterRecord(False, "not asked (--no-cluster)").as_dict()}
        ),
        "disagreements": [],
    }
    if cluster_record is not None:
        git_view = (
            {"run_id": latest["run_id"], "applied_digest": applied_digest} if latest else None
        )
        doc["disagreements"] = in_cluster.compare(git_view, cluster_record)
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
    # The cluster's record is read through an Ansible run, which writes the inventory.
    cluster = config.load(config_path) if no_cluster else load_cluster(config_path)
    cluster_record = None if no_cluster else in_cluster.read(cluster, kubeconfig)
    doc = status_document(cluster, cluster_record)
    if out.json_mode:
        out.emit(doc)
        return
    _show_status(out, doc)


def _show_status(out: Output, doc: dict[str, Any]) -> None:
    git_side = doc["git"]
    out.info(f"[bold]{doc['cluster']}[/bold] ({escaped(doc['config'])})")
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
            f"  latest run: {latest['run_id']} ({latest['command']}) {coloured_result(latest['result'])}"
        )
    if doc["in_sync"]:
        out.info("  cluster.yaml: [green]matches what was applied[/green]")
    else:
        actions = doc["pending"].get("actions") or []
        out.info(f"  cluster.yaml: [yellow]{len(actions)} pending action(s)[/yellow]")
        for action in actions:
            out.info(f"    - {escaped(action['kind'])}: {escaped(action['summary'])}")
        for problem in doc["pending"].get("problems") or []:
            out.info(
                f"    [red]blocked[/red] {escaped(problem['path'])}: {escaped(problem['message'])}"
            )
    for path in git_side["uncommitted"]:
        out.warn(f"uncommitted change in {escaped(path)}")
    record_side = doc["cluster_record"]
    if not record_side["reachable"]:
        out.info(f"  cluster: [yellow]unknown[/yellow]: {escaped(record_side['message'])}")
    elif not record_side["run_id"]:
        out.info(f"  cluster: {escaped(record_side['message'])}")
    else:
        out.info(
            f"  cluster: run {record_side['run_id']} ({record_side['result']}), "
            f"digest {record_side['applied_digest'][:12] or '(none)'}"
        )
    if doc["disagreements"]:
        out.warn("Git and the cluster disagree:")
        for line in doc["disagreements"]:
            out.info(f"    - {escaped(line)}")
    elif record_side["reachable"] and record_side["run_id"]:
        out.info("  [green]Git and the cluster agree[/green]")


COMMANDS: list[click.Command] = [status]
