"""Drift: what on the hosts (and in the cluster's addons) differs from what Git says is applied.

Our roles run in check and diff mode against the spec in state/applied.yaml (cluster.yaml when
nothing is recorded yet): a task that would change something is drift, with its diff. Check mode
has known false positives, so a task that cannot be checked is reported as such, not as drift:
command/shell tasks (skipped in check mode), modules without check mode, tasks failing in check
mode (often because an earlier task would have changed something), and tasks that opt out with
`check_mode: false` and therefore ran for real.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8s_install.addons import drift as addons_drift
from k8s_install.ansible import actions, runner
from k8s_install.ansible.progress import Progress
from k8s_install.base import resources
from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.base.output import Output
from k8s_install.model import config
from k8s_install.model.config import Cluster
from k8s_install.records import applied_file

CALLBACK = "k8s_install_checkmode"
LOG_ENV = "K8S_INSTALL_CHECKMODE_LOG"
# Result messages of a task that could not run in check mode.
CHECK_MODE_SKIPS = ("check mode", "check_mode")
MAX_DIFF_LINES = 200
# Addon statuses that mean the cluster differs from the rendered releases in Git.
ADDON_DRIFT = ("drifted", "not-installed")


@dataclass
class Drifted:
    """One thing on a host that differs: a file (path) or another managed object (task)."""

    host: str
    task: str
    path: str = ""
    diff: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class Unchecked:
    """A task check mode cannot judge: said once per host and task, never counted as drift."""

    host: str
    task: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class DriftReport:
    run_id: str
    compared_with: str
    log: str
    hosts: list[str] = field(default_factory=list)
    drifted: list[Drifted] = field(default_factory=list)
    unchecked: list[Unchecked] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    addons: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_drift(self) -> bool:
        return bool(self.drifted) or any(a.get("status") in ADDON_DRIFT for a in self.addons)

    @property
    def exit_code(self) -> ExitCode:
        if self.has_drift:
            return ExitCode.INVALID_INPUT  # 2: "something differs", as plan --detailed-exitcode
        if self.unreachable:
            return ExitCode.UNREACHABLE
        return ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "compared_with": self.compared_with,
            "log": self.log,
            "drifted": self.has_drift,
            "exit_code": int(self.exit_code),
            "hosts": {
                host: {
                    "status": _host_status(self, host),
                    "drifted": [d.as_dict() for d in self.drifted if d.host == host],
                    "cannot_check": [u.as_dict() for u in self.unchecked if u.host == host],
                }
                for host in self.hosts
            },
            "addons": self.addons,
            "notes": self.notes,
        }


def _host_status(report: DriftReport, host: str) -> str:
    if host in report.unreachable:
        return "unreachable"
    return "drifted" if any(d.host == host for d in report.drifted) else "in-sync"


# The spec to compare against.


def applied_view(cluster: Cluster) -> tuple[Cluster, str]:
    """The cluster as last applied, set up so its inventory goes under .k8s-install/drift/.

    Runs of drift never rewrite the repo's own inventory/, which follows cluster.yaml.
    """
    applied = applied_file.applied_spec(cluster.root)
    spec = copy.deepcopy(applied if applied is not None else cluster.spec)
    compared = applied_file.APPLIED if applied is not None else "cluster.yaml (nothing applied yet)"
    access = spec.setdefault("access", {})
    for key in ("ssh_key", "known_hosts"):
        if access.get(key):  # relative to the real repo, not to the view's directory
            path = Path(str(access[key])).expanduser()
            access[key] = str(path if path.is_absolute() else cluster.root / path)
    view_path = cluster.root / ".k8s-install" / "drift" / "cluster.yaml"
    nodes = config._nodes(spec)  # the same Node model config.load builds
    view = Cluster(spec, view_path, nodes, offline_checksums=cluster.offline_checksums)
    return view, compared


# Reading the run's events.


def _events(artifacts: Path) -> list[dict[str, Any]]:
    directory = artifacts / "job_events"
    if not directory.is_dir():
        return []
    files = sorted(directory.glob("*.json"), key=lambda p: int(p.name.split("-", 1)[0]))
    return [json.loads(p.read_text()) for p in files]


def _checkmode_log(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            entries[(entry["host"], entry["uuid"])] = entry
    return entries


def _render_diff(diff: dict[str, Any]) -> str:
    if diff.get("prepared"):
        return str(diff["prepared"])
    before, after = diff.get("before", ""), diff.get("after", "")
    if isinstance(before, dict) or isinstance(after, dict):
        before = before if isinstance(before, dict) else {}
        after = after if isinstance(after, dict) else {}
        return "\n".join(
            f"{key}: {before.get(key, '(absent)')} -> {after.get(key, '(absent)')}"
            for key in sorted(set(before) | set(after))
            if key != "path" and before.get(key) != after.get(key)
        )
    lines = list(
        difflib.unified_diff(
            str(before).splitlines(),
            str(after).splitlines(),
            fromfile=f"{diff.get('before_header', 'file')} (on the host)",
            tofile=f"{diff.get('before_header', 'file')} (as applied from Git)",
            lineterm="",
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    return "\n".join(lines)


def _diffs(res: dict[str, Any]) -> list[dict[str, Any]]:
    raw = res.get("diff")
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list):
        return [d for d in raw if isinstance(d, dict)]
    return []


def _path(res: dict[str, Any], diff: dict[str, Any], args: dict[str, Any]) -> str:
    # before_header is the file on the host; a template's after_header is a local temp file.
    for value in (
        diff.get("before_header"),
        diff.get("after_header"),
        (diff.get("after") or {}).get("path") if isinstance(diff.get("after"), dict) else None,
        res.get("dest"),
        res.get("path"),
        args.get("dest"),
        args.get("path"),
    ):
        if value and str(value) not in ("before", "after"):
            return str(value)
    return ""


def _changed_items(
    host: str, task: str, res: dict[str, Any], args: dict[str, Any]
) -> list[Drifted]:
    results = res.get("results") if isinstance(res.get("results"), list) else None
    sources = [r for r in results if isinstance(r, dict) and r.get("changed")] if results else [res]
    found: list[Drifted] = []
    for source in sources:
        diffs = _diffs(source)
        if not diffs:
            found.append(Drifted(host, task, _path(source, {}, args), "(would change; no diff)"))
        for diff in diffs:
            text = _render_diff(diff)
            if text.strip():
                found.append(Drifted(host, task, _path(source, diff, args), text))
    return found


def _is_check_skip(reason: str) -> bool:
    lowered = reason.lower()
    return any(marker in lowered for marker in CHECK_MODE_SKIPS)


def classify(
    events: list[dict[str, Any]], checkmode: dict[tuple[str, str], dict[str, Any]]
) -> tuple[list[Drifted], list[Unchecked], list[str], list[str]]:
    """Fold a check-mode run into (drifted, unchecked, unreachable hosts, all hosts)."""
    drifted: list[Drifted] = []
    unchecked: list[Unchecked] = []
    unreachable: list[str] = []
    hosts: list[str] = []
    for event in events:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = str(data.get("host") or "")
        if not host or kind not in (
            "runner_on_ok",
            "runner_on_failed",
            "runner_on_skipped",
            "runner_on_unreachable",
        ):
            continue
        if host not in hosts:
            hosts.append(host)
        task = str(data.get("task") or "")
        res = data.get("res") or {}
        raw_args = data.get("task_args")
        args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
        logged = checkmode.get((host, str(data.get("task_uuid") or "")), {})
        if kind == "runner_on_unreachable":
            if host not in unreachable:
                unreachable.append(host)
            continue
        if kind == "runner_on_failed":
            if data.get("ignore_errors"):
                continue
            message = str(res.get("msg") or res.get("stderr") or "").strip().splitlines()
            reason = "failed in check mode"
            if message:
                reason += f": {message[-1][:200]}"
            unchecked.append(Unchecked(host, task, reason))
            continue
        if logged.get("handler"):
            continue  # a handler follows from a change already reported (or not): not drift itself
        if logged.get("check_mode") is False:
            if logged.get("changed") or res.get("changed"):
                unchecked.append(Unchecked(host, task, "runs outside check mode and changed"))
            continue  # a read that runs for real on purpose: its answer is trustworthy
        if kind == "runner_on_skipped":
            reason = str(logged.get("reason", ""))
            items = [i for i in logged.get("items", []) if i.get("skipped")]
            if _is_check_skip(reason) or any(_is_check_skip(i["reason"]) for i in items):
                unchecked.append(Unchecked(host, task, _unchecked_reason(logged)))
            continue
        if res.get("changed"):
            drifted.extend(_changed_items(host, task, res, args))
        skipped_items = [
            i for i in logged.get("items", []) if i.get("skipped") and _is_check_skip(i["reason"])
        ]
        if skipped_items:
            unchecked.append(Unchecked(host, task, _unchecked_reason(logged, skipped_items)))
    return drifted, unchecked, unreachable, hosts


def _unchecked_reason(logged: dict[str, Any], items: list[dict[str, Any]] | None = None) -> str:
    action = str(logged.get("action", "")).rsplit(".", 1)[-1]
    if action in ("command", "shell", "raw", "script"):
        reason = f"{action} tasks do not run in check mode"
    else:
        reason = str(logged.get("reason") or "cannot run in check mode")
    if items:
        reason += " (items: " + ", ".join(i["item"] for i in items[:10]) + ")"
    return reason


# Addons.


def addon_drift(cluster: Cluster) -> tuple[list[dict[str, Any]], list[str]]:
    """Per release: in-sync or drifted, from the addons module's live comparison."""
    rendered = cluster.root / "rendered" / "addons"
    if not rendered.is_dir() or not any(rendered.iterdir()):
        return [], []
    try:
        releases = addons_drift.detect(cluster)
    except K8sInstallError as exc:
        return [], [f"addon releases were not compared: {exc}"]
    return [dict(r) for r in releases], []


def drifted_releases(releases: list[dict[str, Any]]) -> list[str]:
    """Names of the addon releases whose live objects differ from what Git renders."""
    return [str(r.get("name")) for r in releases if r.get("status") == "drifted"]


# The whole check.


def request(cluster: Cluster) -> tuple[runner.RunRequest, Cluster, str, Path]:
    """The check-and-diff run against the applied view of cluster."""
    view, compared = applied_view(cluster)
    private = cluster.root / ".k8s-install"
    log = private / "drift" / "checkmode.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    base = actions.request(view, "drift", "drift", check=True, diff=True, private_dir=private)
    return checking(base, log), view, compared, log


def checking(request: runner.RunRequest, log: Path) -> runner.RunRequest:
    """request in check and diff mode, with the callback that explains skips writing to log."""
    return dataclasses.replace(
        request,
        check=True,
        diff=True,
        envvars={
            **request.envvars,
            "ANSIBLE_CALLBACK_PLUGINS": str(resources.data_dir("data") / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": CALLBACK,
            LOG_ENV: str(log),
        },
    )


def report_for(
    result: runner.RunResult, log: Path
) -> tuple[list[Drifted], list[Unchecked], list[str], list[str]]:
    """classify() the events and the callback's log of a finished check run."""
    return classify(_events(result.artifacts), _checkmode_log(log))


def detect(cluster: Cluster, out: Output | None = None, *, addons: bool = True) -> DriftReport:
    """Run the check and return what differs. Never changes a host.

    With `out`, live progress is shown (the runner's recap is not: the report replaces it).
    Before the first successful apply there is no baseline: nothing runs, nothing drifted.
    """
    if applied_file.applied_spec(cluster.root) is None:
        return DriftReport(
            run_id="",
            compared_with="",
            log="",
            hosts=[],
            notes=[
                f"nothing has been applied yet (no {applied_file.APPLIED}): there is nothing to "
                "compare the hosts with; `k8s-install status` shows what `up` would do"
            ],
        )
    req, view, compared, log = request(cluster)
    if out is not None and not out.json_mode:
        result = runner.run_playbook(req, Progress(out))
    else:
        result = runner.run_playbook(req)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    drifted, unchecked, unreachable, hosts = report_for(result, log)
    if result.status == "failed" and not hosts:
        raise K8sInstallError(
            f"the drift check did not run: see {result.artifacts / 'stdout'}",
            fix="run `k8s-install validate` and `k8s-install ping` first",
        )
    for host in unreachable:
        if host not in hosts:
            hosts.append(host)
    for node in view.nodes:
        if node.name not in hosts:
            hosts.append(node.name)
            unreachable.append(node.name)
    report = DriftReport(
        run_id=result.run_id,
        compared_with=compared,
        log=str(result.artifacts),
        hosts=sorted(hosts),
        drifted=drifted,
        unchecked=_dedupe(unchecked),
        unreachable=unreachable,
    )
    if addons:
        report.addons, report.notes = addon_drift(cluster)
    return report


def _dedupe(items: list[Unchecked]) -> list[Unchecked]:
    seen: set[tuple[str, str]] = set()
    result = []
    for item in items:
        if (item.host, item.task) not in seen:
            seen.add((item.host, item.task))
            result.append(item)
    return result


def summary(report: DriftReport) -> list[str]:
    """Plain lines for people; `up` prints these as its drift warning."""
    lines = []
    for item in report.drifted:
        where = f"{item.host}: {item.path}" if item.path else f"{item.host}: task '{item.task}'"
        lines.append(f"drifted {where} ({item.task})")
    for addon in report.addons:
        if addon.get("status") in ADDON_DRIFT:
            name = f"{addon.get('namespace', '')}/{addon.get('name', '')}".strip("/")
            lines.append(f"{addon.get('status')} addon release {name}")
    lines += addons_drift.summary_lines(report.addons)
    for host in report.unreachable:
        lines.append(f"unreachable {host}: not checked")
    for unchecked in report.unchecked:
        lines.append(f"cannot check {unchecked.host}: {unchecked.task}: {unchecked.reason}")
    return lines
