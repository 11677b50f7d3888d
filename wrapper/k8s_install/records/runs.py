"""Run records: every command that changes a cluster leaves runs/<run-id>.yaml and a commit.

The record is written first, atomically, and only then committed: a failing `git commit` (a hook,
a lock) or a Ctrl-C leaves the record on disk, and the next run commits it. Full logs stay in
.k8s-install/artifacts/<run-id>/, out of Git; the record points to them.
"""

from __future__ import annotations

import getpass
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from k8s_install import __version__
from k8s_install.ansible import inventory, runner, ssh_ca
from k8s_install.ansible.runner import RunResult
from k8s_install.base.errors import InvalidInput, K8sInstallError, Problem, Terminated
from k8s_install.model.config import Cluster
from k8s_install.records import applied_file, git_repo

RUNS_DIR = "runs"
FORMAT = 1
# What a run commits, relative to the cluster repo.
# What a run commits besides the cluster file itself (which may be named other than cluster.yaml).
COMMITTED = (inventory.DIRNAME, "rendered", applied_file.STATE_DIR, RUNS_DIR, ssh_ca.DIRNAME)
# Written only by k8s-install: changes there are the tool's, not the user's.
TOOL_OWNED = ("rendered/", f"{applied_file.STATE_DIR}/", f"{RUNS_DIR}/", f"{ssh_ca.DIRNAME}/")
# Local-only directories (ignored by the .gitignore `init` writes; skipped if someone lost it).
LOCAL_ONLY = (".k8s-install/", ".sandbox/", "backups/")
MESSAGE_LIMIT = 300
# Records are plain YAML we wrote ourselves: the C loader reads a long history fast.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SLOWEST = 10


@dataclass
class Recorded:
    """Where a run was recorded. `commit` is "" when Git could not commit it (see `warning`)."""

    run_id: str
    path: Path
    commit: str = ""
    warning: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "run_id": self.run_id,
            "record": str(self.path),
            "commit": self.commit,
            "warning": self.warning,
        }


def _seconds(started: str, ended: str) -> float:
    try:
        delta = datetime.fromisoformat(ended) - datetime.fromisoformat(started)
    except ValueError:
        return 0.0
    return round(delta.total_seconds(), 1)


def _bundle_version(cluster: Cluster, extra: dict[str, Any]) -> str | None:
    if extra.get("bundle_version"):
        return str(extra["bundle_version"])
    offline = cluster.section("offline")
    if offline.get("enabled") and offline.get("bundle"):
        return Path(str(offline["bundle"])).name
    return None


def _operator() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (OSError, KeyError):
        return "unknown"


def build(
    cluster: Cluster,
    result: RunResult | None,
    *,
    command: str,
    applied: bool,
    extra: dict[str, Any] | None = None,
    status: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The record of one run as a plain dict (what runs/<run-id>.yaml holds)."""
    extra = dict(extra or {})
    rid = result.run_id if result is not None else (run_id or runner.new_run_id())
    started = (
        result.started if result is not None else str(extra.pop("started", runner.timestamp()))
    )
    ended = result.ended if result is not None else runner.timestamp()
    outcome = status or (result.status if result is not None else "error")
    hosts: dict[str, dict[str, int]] = {}
    if result is not None:
        for name, stats in sorted(result.hosts.items()):
            hosts[name] = {
                "ok": stats.ok,
                "changed": stats.changed,
                "failed": stats.failures,
                "unreachable": stats.unreachable,
                "skipped": stats.skipped,
            }
    record: dict[str, Any] = {
        "format": FORMAT,
        "run_id": rid,
        "command": command,
        "result": outcome,
        "applied": bool(applied and outcome == "successful"),
        "started": started,
        "ended": ended,
        "duration_seconds": _seconds(started, ended),
        "cluster": {
            "name": cluster.name,
            "digest": cluster.digest(),
            "config_commit": git_repo.head(cluster.root) if git_repo.is_repo(cluster.root) else "",
        },
        "versions": {
            "k8s_install": __version__,
            "engine": cluster.engine_release,
            "bundle": _bundle_version(cluster, extra),
            "kubernetes": cluster.kubernetes_version,
        },
        "operator": _operator(),
        "playbook": result.playbook if result is not None else "",
        "hosts": hosts,
        "totals": {
            "hosts": len(hosts),
            "changed": sum(h["changed"] for h in hosts.values()),
            "failed": sum(h["failed"] + h["unreachable"] for h in hosts.values()),
        },
        "slowest_tasks": [t.as_dict() for t in result.slowest[:SLOWEST]] if result else [],
        "failures": [
            {
                "host": f.get("host", ""),
                "task": f.get("task", ""),
                "kind": f.get("kind", "failed"),
                "message": f.get("message", "")[:MESSAGE_LIMIT],
            }
            for f in (result.failures if result is not None else [])
        ],
        "stopped_at": result.stopped_at if result is not None else "",
        "signal": result.signal if result is not None else "",
        "log": f".k8s-install/artifacts/{rid}/",
    }
    extra.pop("bundle_version", None)
    if extra:
        record["extra"] = extra
    return record


def _dump(record: dict[str, Any]) -> str:
    header = (
        f"# Run record written by k8s-install {__version__}. "
        "The full log stays on the machine that ran it, under `log:`.\n"
    )
    return header + yaml.safe_dump(record, sort_keys=False, default_flow_style=False, width=100)


def record_path(repo_root: Path, run_id: str) -> Path:
    return Path(repo_root) / RUNS_DIR / f"{run_id}.yaml"


def _message(record: dict[str, Any]) -> str:
    totals = record["totals"]
    return (
        f"{record['command']}: {record['result']} (run {record['run_id']})\n\n"
        f"Cluster {record['cluster']['name']}, engine {record['versions']['engine']}, "
        f"{totals['hosts']} host(s), {totals['changed']} changed, {totals['failed']} failed.\n"
        f"Log (not in Git): {record['log']}\n\n"
        f"Run-Id: {record['run_id']}\n"
        f"Result: {record['result']}\n"
    )


def _commit(cluster: Cluster, record: dict[str, Any]) -> str:
    root = cluster.root
    candidates = [cluster.path.name, *COMMITTED]
    paths = [p for p in candidates if (root / p).exists() or _tracked(root, p)]
    git_repo.git(root, "add", "--all", "--", *paths)
    git_repo.git(root, "commit", "--quiet", "-m", _message(record), "--", *paths)
    return git_repo.head(root)


def _tracked(root: Path, path: str) -> bool:
    return bool(git_repo.git(root, "ls-files", "--", path, check=False).strip())


@contextmanager
def _deferred_interrupt() -> Iterator[list[int]]:
    """Hold Ctrl-C and SIGTERM while the record is written and committed; re-raise them after."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def hold(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {number: signal.signal(number, hold) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield pending
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if signal.SIGTERM in pending:
        raise Terminated
    if pending:
        raise KeyboardInterrupt


def record_run(
    cluster: Cluster,
    result: RunResult | None,
    *,
    command: str,
    applied: bool,
    extra: dict[str, Any] | None = None,
    status: str | None = None,
) -> Recorded:
    """Write runs/<run-id>.yaml, update state/ on success, and commit. Never loses the record."""
    record = build(cluster, result, command=command, applied=applied, extra=extra, status=status)
    path = record_path(cluster.root, record["run_id"])
    with _deferred_interrupt():
        applied_file.write_atomic(path, _dump(record))
        if record["applied"]:
            applied_file.write_applied(cluster)
        recorded = Recorded(record["run_id"], path)
        if not git_repo.is_repo(cluster.root):
            recorded.warning = (
                f"{cluster.root} is not a Git repository: the record was written but not committed"
            )
            return recorded
        try:
            recorded.commit = _commit(cluster, record)
        except K8sInstallError as exc:
            recorded.warning = (
                f"the record {path} was written but not committed ({exc}); "
                "the next run commits it, or commit it yourself"
            )
    return recorded


def commit_run(
    cluster: Cluster,
    result: RunResult | None,
    *,
    command: str,
    applied: bool,
    extra: dict[str, Any] | None = None,
) -> str:
    """Record and commit one run of a command that changes the cluster; returns the run id.

    `result` None means the command failed before a playbook ran (pass the reason in extra).
    With applied=True and a successful result, state/applied.yaml becomes cluster's spec.
    """
    return record_run(cluster, result, command=command, applied=applied, extra=extra).run_id


@dataclass
class Recording:
    """Filled in by the caller of `recording()`: the run's result, and the record once made."""

    result: RunResult | None = None
    recorded: Recorded | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def recording(cluster: Cluster, command: str, *, applied: bool = True) -> Iterator[Recording]:
    """Record the run made inside the block, even when the block raises or is interrupted.

    with record.recording(cluster, "up") as rec:
        rec.result = progress.execute(request, out)
    # rec.recorded.run_id, rec.recorded.commit
    """
    rec = Recording()
    try:
        yield rec
    except BaseException as exc:
        if rec.recorded is None:
            interrupted = isinstance(exc, KeyboardInterrupt)
            rec.recorded = record_run(
                cluster,
                rec.result,
                command=command,
                applied=False,
                extra={**rec.extra, "error": str(exc) or type(exc).__name__},
                status="interrupted" if interrupted else "error",
            )
        raise
    if rec.recorded is None:
        rec.recorded = record_run(
            cluster, rec.result, command=command, applied=applied, extra=rec.extra or None
        )


# Reading records.


def load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"{path} is not readable YAML: {exc}", fix="restore it from Git"
        ) from None
    if not isinstance(data, dict) or "run_id" not in data:
        raise InvalidInput(f"{path} is not a run record", fix="remove it or restore it from Git")
    return data


def all_records(repo_root: Path) -> list[dict[str, Any]]:
    """Every run record, newest first."""
    directory = Path(repo_root) / RUNS_DIR
    records = [load(p) for p in directory.glob("*.yaml")] if directory.is_dir() else []
    return sorted(records, key=lambda r: (str(r.get("started", "")), r["run_id"]), reverse=True)


def find(repo_root: Path, ref: str) -> dict[str, Any]:
    """A record by run id, unique prefix, or `latest`."""
    records = all_records(repo_root)
    if not records:
        raise InvalidInput(
            f"no run records in {Path(repo_root) / RUNS_DIR}",
            fix="records appear after a command that changes the cluster (up, scale, ...)",
        )
    if ref in ("latest", "last"):
        return records[0]
    matches = [r for r in records if str(r["run_id"]).startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InvalidInput(
            f"no run '{ref}' in {Path(repo_root) / RUNS_DIR}",
            fix="see `k8s-install history` for run ids",
        )
    raise InvalidInput(
        f"'{ref}' matches {len(matches)} runs",
        fix="give more of the run id: " + ", ".join(str(r["run_id"]) for r in matches[:5]),
    )


def latest_applied(repo_root: Path) -> dict[str, Any] | None:
    """The newest record of a successful run that updated state/applied.yaml."""
    return next((r for r in all_records(repo_root) if r.get("applied")), None)


def commits_by_run(repo_root: Path) -> dict[str, str]:
    """Run id -> the commit whose `Run-Id:` trailer names it."""
    if not git_repo.is_repo(repo_root) or not git_repo.head(repo_root):
        return {}
    log = git_repo.git(
        repo_root,
        "log",
        "--format=%H%x1f%(trailers:key=Run-Id,valueonly,separator=%x1f)%x1e",
        "--",
        RUNS_DIR,
    )
    result: dict[str, str] = {}
    for entry in log.split("\x1e"):
        parts = [p.strip() for p in entry.strip().split("\x1f")]
        for run_id in parts[1:]:
            if run_id:
                result.setdefault(run_id, parts[0])
    return result


# The dirty-tree check.


def _user_change(cluster: Cluster, code: str, path: str) -> bool:
    """Whether an uncommitted change at path is the user's (True) or the tool's own (False)."""
    if path.startswith(LOCAL_ONLY) or path.startswith(TOOL_OWNED):
        return False
    prefix = inventory.DIRNAME + "/"
    if path.startswith(prefix):
        # Generated files are rewritten from cluster.yaml on every run, so their changes are
        # the tool's. Any other file there (a hand-added host_vars) would change the run.
        file = cluster.root / path
        if "D" in code or path[len(prefix) :] in inventory.files(cluster):
            return False
        try:
            return not file.read_text(encoding="utf-8").startswith(inventory.HEADER)
        except (OSError, UnicodeDecodeError):
            return True
    return True


def dirty_files(cluster: Cluster) -> list[tuple[str, str]]:
    """(status, path) of the user's uncommitted changes in the cluster repo."""
    return [
        (code, path)
        for code, path in git_repo.changes(cluster.root)
        if _user_change(cluster, code, path)
    ]


_WHAT = {"?": "not committed (untracked)", "M": "modified", "A": "added, not committed"}


def ensure_clean(cluster: Cluster, allow_dirty: bool) -> list[str]:
    """Refuse (exit 2) to apply from a cluster repo with uncommitted changes of the user's.

    Returns the dirty paths that --allow-dirty let through, for a warning.
    """
    root = cluster.root
    if not git_repo.is_repo(root):
        if allow_dirty:
            return []
        raise InvalidInput(
            f"{root} is not a Git repository, so this run could not be recorded",
            fix="create the cluster with `k8s-install init DIR`, or `git init` there and commit "
            "cluster.yaml; --allow-dirty runs without a Git record",
        )
    dirty = dirty_files(cluster)
    paths = [path for _code, path in dirty]
    if not dirty or allow_dirty:
        return paths
    problems = [
        Problem(
            path,
            _WHAT.get(code.strip()[:1], "deleted" if "D" in code else "changed")
            if code.strip()
            else "changed",
            f"git add {path} && git commit",
        )
        for code, path in dirty
    ]
    raise InvalidInput(
        f"the cluster repo {root} has {len(dirty)} uncommitted change(s): "
        + ", ".join(paths[:10])
        + (" ..." if len(paths) > 10 else ""),
        problems,
        fix="commit them so the run records what was applied, or pass --allow-dirty",
    )
