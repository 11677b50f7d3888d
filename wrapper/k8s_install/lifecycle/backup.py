"""etcd backups on the control machine: snapshot reports, verification and retention.

The etcd_backup role takes, verifies and fetches the snapshot; this module checks the fetched
copy against the member's checksum and keeps the newest `backup.retention` snapshots.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8s_install.base.errors import InvalidInput, K8sInstallError, Problem
from k8s_install.model.config import Cluster

REPORT_TASK = "Report the snapshot"
SNAPSHOT_GLOB = "*.db"


def directory(cluster: Cluster) -> Path:
    """Where snapshots are kept on the control machine (ignored by Git)."""
    path = Path(str(cluster.section("backup").get("dir", "backups"))).expanduser()
    return path if path.is_absolute() else cluster.root / path


@dataclass(frozen=True)
class Snapshot:
    host: str
    name: str
    remote_path: str
    sha256: str
    size: int
    revision: int
    total_keys: int
    local_path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "name": self.name,
            "remote_path": self.remote_path,
            "local_path": str(self.local_path) if self.local_path else None,
            "sha256": self.sha256,
            "size": self.size,
            "revision": self.revision,
            "total_keys": self.total_keys,
        }


def reported(artifacts: Path) -> Snapshot | None:
    """The snapshot the role reported, from the run's job events."""
    for path in sorted((artifacts / "job_events").glob("*.json")):
        try:
            event = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data = event.get("event_data") or {}
        if event.get("event") != "runner_on_ok" or data.get("task") != REPORT_TASK:
            continue
        snap = (data.get("res") or {}).get("etcd_backup__snapshot")
        if isinstance(snap, dict):
            return Snapshot(
                host=str(snap["host"]),
                name=str(snap["name"]),
                remote_path=str(snap["remote_path"]),
                sha256=str(snap["sha256"]),
                size=int(snap["size"]),
                revision=int(snap["revision"]),
                total_keys=int(snap["total_keys"]),
            )
    return None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_local(snapshot: Snapshot, folder: Path) -> Snapshot:
    """The fetched copy must exist and match the member's checksum."""
    local = folder / snapshot.name
    if not local.is_file():
        raise K8sInstallError(
            f"the snapshot was not copied to {local}",
            fix="check free space and permissions of backup.dir, then run `k8s-install backup` again",
        )
    actual = sha256(local)
    if actual != snapshot.sha256:
        local.rename(local.with_suffix(".db.corrupt"))
        raise K8sInstallError(
            f"{local} does not match the snapshot on {snapshot.host} "
            f"(sha256 {actual[:12]}… != {snapshot.sha256[:12]}…); kept as .corrupt",
            fix="run `k8s-install backup` again",
        )
    return Snapshot(**{**snapshot.__dict__, "local_path": local})


def prune(folder: Path, prefix: str, keep: int) -> list[Path]:
    """Remove all but the newest `keep` snapshots named <prefix>-*.db; returns what was removed."""
    snapshots = sorted(folder.glob(f"{prefix}-{SNAPSHOT_GLOB}"), key=lambda p: p.name, reverse=True)
    removed = []
    for old in snapshots[keep:]:
        old.unlink()
        removed.append(old)
    return removed


def snapshot_file(cluster: Cluster, value: Path) -> Path:
    """The snapshot to restore: a path, or a name inside backup.dir. Must look like an etcd db."""
    candidates = [value, directory(cluster) / value]
    for path in candidates:
        if path.is_file():
            with path.open("rb") as handle:
                head = handle.read(4096)
            if len(head) < 4096:
                raise InvalidInput(
                    f"{path} is too small to be an etcd snapshot",
                    [
                        Problem(
                            "SNAPSHOT",
                            f"{path} has {len(head)} bytes",
                            "pick a .db file from `k8s-install backup`",
                        )
                    ],
                )
            return path.resolve()
    raise InvalidInput(
        f"snapshot {value} not found",
        [
            Problem(
                "SNAPSHOT",
                f"neither {value} nor {directory(cluster) / value} exists",
                f"list the snapshots: ls {directory(cluster)}",
            )
        ],
    )
