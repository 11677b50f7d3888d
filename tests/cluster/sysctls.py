"""Save and restore this machine's global kernel settings around a real cluster.

Every sandbox host shares this machine's kernel. A kubelet sets kernel.* and vm.* tunables at
start, and the engine raises fs.inotify limits: those are global, not per host. `snapshot()`
reads every writable setting outside net.* (which lives per network namespace); `restore()`
writes back each one that changed, and returns what it restored.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path("/proc/sys")
# Read-only, or changing by themselves (counters, random, state tables).
VOLATILE = (
    "kernel/random/",
    "kernel/ns_last_pid",
    "kernel/tainted",
    "fs/dentry-state",
    "fs/file-nr",
    "fs/inode-",
    "fs/quota/",
    "vm/stat_refresh",
    "vm/drop_caches",
    "vm/compact_memory",
    "kernel/sched_domain/",
    "fs/binfmt_misc/",
)
# The settings a kubelet and the engine are known to change; snapshot() covers more.
KNOWN = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "fs.inotify.max_user_instances",
    "fs.inotify.max_user_watches",
)


def _key(path: Path) -> str:
    return str(path.relative_to(ROOT)).replace("/", ".")


def snapshot() -> dict[str, str]:
    """Every writable global setting and its value."""
    values: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*")):
        rel = str(path.relative_to(ROOT))
        if rel.startswith("net/") or any(rel.startswith(v) for v in VOLATILE):
            continue
        if not path.is_file() or not os.access(path, os.W_OK):
            continue
        try:
            values[_key(path)] = path.read_text()
        except OSError:
            continue
    return values


def restore(saved: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Write back every saved setting that changed; returns {key: (was, had become)}."""
    restored = {}
    for key, value in saved.items():
        path = ROOT / key.replace(".", "/")
        try:
            now = path.read_text()
            if now != value:
                path.write_text(value)
                restored[key] = (value.strip(), now.strip())
        except OSError:
            continue
    return restored
