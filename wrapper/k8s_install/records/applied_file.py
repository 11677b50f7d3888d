"""state/applied.yaml: the defaulted spec last applied successfully, as Git records it.

`plan`, addon pruning, `status` and `drift` compare against this file, not against cluster.yaml,
which may hold changes not applied yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from k8s_install.model import yamlfile
from k8s_install.model.config import Cluster

STATE_DIR = "state"
APPLIED = f"{STATE_DIR}/applied.yaml"
HEADER = (
    "# Written by k8s-install after a successful run: the defaulted cluster.yaml it applied.\n"
    "# Do not edit; `k8s-install status` compares cluster.yaml against it.\n"
)


def applied_path(repo_root: Path) -> Path:
    return Path(repo_root) / APPLIED


def applied_spec(repo_root: Path) -> dict[str, Any] | None:
    """The spec last applied successfully, or None when nothing has been applied yet."""
    path = applied_path(repo_root)
    if not path.is_file():
        return None
    data = yamlfile.load(path).data
    if not isinstance(data, dict):
        return None
    return data


def digest(spec: dict[str, Any]) -> str:
    """The same digest as Cluster.digest(), for a spec read back from state/applied.yaml."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_applied(cluster: Cluster) -> Path:
    """Record cluster's defaulted spec as applied (atomically: a crash leaves the old file)."""
    path = applied_path(cluster.root)
    write_atomic(path, HEADER + yamlfile.dump(cluster.spec))
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write text to path via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
