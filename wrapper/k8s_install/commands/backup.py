"""backup and restore: etcd snapshots taken, verified, kept and restored."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from k8s_install.ansible import actions, runner
from k8s_install.base.errors import ExitCode, InvalidInput, K8sInstallError, Problem
from k8s_install.base.output import Output
from k8s_install.commands.common import config_option, json_option, load_cluster, output
from k8s_install.lifecycle import backup
from k8s_install.model import config
from k8s_install.records import runs


def _exit(code: ExitCode | int) -> None:
    raise click.exceptions.Exit(int(code))


def _failed(out: Output, result: runner.RunResult, what: str) -> None:
    if out.json_mode:
        out.emit({"run": result.as_dict()})
    for failure in result.failures:
        out.error(f"{failure['host']}: {failure['task']}: {failure['message']}")
    out.error(f"{what} {result.status}; full log: {result.artifacts}")
    _exit(result.exit_code)


@click.command("backup")
@config_option
@json_option
def backup_command(config_path: Path) -> None:
    """Take an etcd snapshot, verify it, and copy it to this machine.

    The snapshot is taken on the first etcd member with etcdctl, verified with
    `snapshot status` (it must hold keys), copied into backup.dir (default
    ./backups, ignored by Git: snapshots hold Secrets), checked against the
    member's sha256, and only the newest backup.retention snapshots are kept.
    backup.schedule in cluster.yaml also installs a systemd timer on every etcd
    member. `k8s-install upgrade` always takes a backup first.

    \b
    Examples:
      k8s-install backup
      k8s-install backup -c clusters/prod/cluster.yaml --json
    """
    out = output()
    cluster = load_cluster(config_path)
    folder = backup.directory(cluster)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    request = actions.request(
        cluster, "backup", "backup", extravars={"etcd_backup_fetch_dir": str(folder)}
    )
    with runs.recording(cluster, "backup", applied=False) as rec:
        rec.result = result = runner.run_playbook(request)
    if result.status != "successful":
        _failed(out, result, "backup")
    snapshot = backup.reported(result.artifacts)
    if snapshot is None:
        raise K8sInstallError(
            "the run succeeded but reported no snapshot",
            fix=f"check that cluster.yaml has an etcd node; log: {result.artifacts}",
        )
    snapshot = backup.verify_local(snapshot, folder)
    assert snapshot.local_path is not None
    os.chmod(snapshot.local_path, 0o600)
    keep = int(cluster.section("backup").get("retention", 7))
    removed = backup.prune(folder, f"{cluster.name}-etcd", keep)
    if out.json_mode:
        out.emit(
            {
                "snapshot": snapshot.as_dict(),
                "removed": [str(p) for p in removed],
                "run": result.as_dict(),
            }
        )
    else:
        out.info(
            f"snapshot {snapshot.local_path} from {snapshot.host}: revision {snapshot.revision}, "
            f"{snapshot.total_keys} keys, {snapshot.size} bytes, sha256 {snapshot.sha256[:16]}…"
        )
        if removed:
            out.info(f"removed {len(removed)} older snapshot(s) (backup.retention: {keep})")
    _exit(ExitCode.OK)


def _confirm(cluster: config.Cluster, snapshot: Path, yes: bool) -> None:
    members = ", ".join(n.name for n in cluster.etcd_nodes)
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(
            "restore needs confirmation and there is no terminal to ask on",
            [
                Problem(
                    "--yes",
                    f"restoring replaces the etcd data of {members}",
                    "run it in a terminal, or pass --yes when you are sure",
                )
            ],
        )
    prompt = (
        f"Replace the etcd data of {members} with {snapshot.name}? The API server is stopped "
        "during the restore and everything written since the snapshot is lost"
    )
    if not click.confirm(prompt, default=False):
        raise K8sInstallError("restore cancelled; nothing was changed", code=ExitCode.INVALID_INPUT)


@click.command("restore")
@click.argument("snapshot", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
@json_option
def restore_command(snapshot: Path, yes: bool, config_path: Path) -> None:
    """Restore every etcd member from SNAPSHOT (a path, or a file name in backup.dir).

    Asks for confirmation first (or --yes; without a terminal and without --yes it
    refuses). Then on every etcd member: copy and verify the snapshot, stop the
    API server and etcd, move the data directory aside (kept as
    <dir>.before-restore-<time>), `snapshot restore` with the member's name and
    peer URL, start etcd, and wait until every member is healthy and serves at
    least the snapshot's revision. See docs/backup-restore.md.

    \b
    Examples:
      k8s-install restore backups/prod-etcd-20250101T020000Z.db
      k8s-install restore prod-etcd-20250101T020000Z.db --yes --json
    """
    out = output()
    cluster = load_cluster(config_path)
    path = backup.snapshot_file(cluster, snapshot)
    if not cluster.etcd_nodes:
        raise InvalidInput("no etcd node", [Problem("nodes", "no node has the role etcd", "")])
    _confirm(cluster, path, yes)
    request = actions.request(
        cluster, "restore", "restore", extravars={"etcd_restore_snapshot": str(path)}
    )
    with runs.recording(cluster, "restore", applied=False) as rec:
        rec.extra = {"snapshot": path.name}
        rec.result = result = runner.run_playbook(request)
    if result.status != "successful":
        _failed(out, result, "restore")
    if out.json_mode:
        out.emit({"snapshot": str(path), "run": result.as_dict()})
    else:
        out.info(
            f"restored {path.name} on {', '.join(n.name for n in cluster.etcd_nodes)}; "
            "old data directories were kept as <data dir>.before-restore-<time>"
        )
    _exit(ExitCode.OK)


COMMANDS: list[click.Command] = [backup_command, restore_command]
