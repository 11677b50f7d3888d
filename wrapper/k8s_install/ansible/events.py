"""Ansible events, reduced to what progress, recaps and run records need."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

HOST_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
    "runner_item_on_failed": None,
}


@dataclass(frozen=True)
class Event:
    """One thing that happened: a play or task started, or a host finished a task."""

    kind: str  # play, task, ok, changed, failed, unreachable, skipped, ignored
    play: str = ""
    task: str = ""
    host: str = ""
    message: str = ""
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", 0.0)}


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class TaskTiming:
    play: str
    task: str
    host: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "play": self.play,
            "task": self.task,
            "host": self.host,
            "seconds": round(self.seconds, 3),
        }


def _message(result: dict[str, Any]) -> str:
    if result.get("_ansible_no_log") or result.get("censored"):
        return "(output hidden: no_log)"
    for key in ("msg", "stderr", "reason"):
        value = result.get(key)
        if value:
            return str(value).strip().splitlines()[-1][:500] if str(value).strip() else ""
    return ""


@dataclass
class EventLog:
    """Folds the event stream into counts, timings and the current position."""

    play: str = ""
    task: str = ""
    timings: list[TaskTiming] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    changed_tasks: list[dict[str, str]] = field(default_factory=list)
    final_stats: dict[str, HostStats] | None = None
    counted: dict[str, HostStats] = field(default_factory=dict)

    def add(self, raw: dict[str, Any]) -> Event | None:
        kind = raw.get("event", "")
        data = raw.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.play = str(data.get("play") or data.get("name") or "")
            return Event("play", play=self.play)
        if kind == "playbook_on_task_start":
            self.task = str(data.get("task") or data.get("name") or "")
            return Event("task", play=self.play, task=self.task)
        if kind == "playbook_on_stats":
            self.final_stats = _stats(data)
            return None
        outcome = HOST_EVENTS.get(kind)
        if outcome is None:
            return None
        return self._host_event(outcome, data)

    def _host_event(self, outcome: str, data: dict[str, Any]) -> Event:
        host = str(data.get("host", ""))
        task = str(data.get("task") or self.task)
        result = data.get("res") or {}
        stats = self.counted.setdefault(host, HostStats())
        if outcome == "ok" and result.get("changed"):
            outcome = "changed"
        if outcome == "failed" and data.get("ignore_errors"):
            outcome = "ignored"
        setattr(
            stats,
            {"failed": "failures"}.get(outcome, outcome),
            getattr(stats, {"failed": "failures"}.get(outcome, outcome)) + 1,
        )
        duration = float(data.get("duration") or 0.0)
        if duration:
            self.timings.append(TaskTiming(self.play, task, host, duration))
        message = _message(result) if outcome in ("failed", "unreachable") else ""
        if outcome in ("failed", "unreachable"):
            self.failures.append(
                {"host": host, "task": task, "play": self.play, "kind": outcome, "message": message}
            )
        if outcome == "changed":
            self.changed_tasks.append({"host": host, "task": task, "play": self.play})
        return Event(
            outcome, play=self.play, task=task, host=host, message=message, duration=duration
        )

    def stats(self) -> dict[str, HostStats]:
        return self.final_stats if self.final_stats is not None else self.counted

    def slowest(self, count: int) -> list[TaskTiming]:
        return sorted(self.timings, key=lambda t: t.seconds, reverse=True)[:count]

    def position(self) -> str:
        return f"play '{self.play}', task '{self.task}'" if self.task else f"play '{self.play}'"


def _stats(data: dict[str, Any]) -> dict[str, HostStats]:
    result: dict[str, HostStats] = {}
    mapping = {
        "ok": "ok",
        "changed": "changed",
        "failures": "failures",
        "dark": "unreachable",
        "skipped": "skipped",
        "rescued": "rescued",
        "ignored": "ignored",
    }
    for source, target in mapping.items():
        for host, count in (data.get(source) or {}).items():
            setattr(result.setdefault(host, HostStats()), target, int(count))
    for host in data.get("processed") or {}:
        result.setdefault(host, HostStats())
    return result
