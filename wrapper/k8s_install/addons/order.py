"""The addon order: install waves, removal order, and what an apply would change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8s_install.model.addon_releases import (
    Release,
    edges,
    expand,
    find_cycle,
    globals_of,
    resolve_values,
)
from k8s_install.records import applied_file


class CycleError(ValueError):
    def __init__(self, cycle: list[str]) -> None:
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


def waves(releases: list[Release]) -> list[list[Release]]:
    """Releases in install order: each wave needs only earlier waves, so a wave may run in
    parallel. Names are sorted within a wave. Raises CycleError."""
    graph = edges(releases)
    cycle = find_cycle(graph)
    if cycle:
        raise CycleError(cycle)
    by_name = {r.name: r for r in releases}
    done: set[str] = set()
    result: list[list[Release]] = []
    while len(done) < len(by_name):
        ready = sorted(n for n in by_name if n not in done and set(graph[n]) <= done)
        result.append([by_name[n] for n in ready])
        done.update(ready)
    return result


def install_order(releases: list[Release]) -> list[Release]:
    return [r for wave in waves(releases) for r in wave]


def removal_order(releases: list[Release]) -> list[Release]:
    """Dependents first: the install order reversed."""
    return list(reversed(install_order(releases)))


def enabled(releases: list[Release]) -> list[Release]:
    return [r for r in releases if r.enabled]


@dataclass(frozen=True)
class Change:
    """One step of an addons apply."""

    action: str  # install, upgrade, remove, unchanged
    name: str
    namespace: str
    reason: str
    wave: int | None = None  # install waves start at 1; removals have none

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "name": self.name,
            "namespace": self.namespace,
            "reason": self.reason,
            "wave": self.wave,
        }


def _identity(release: Release, globals_: dict[str, Any]) -> str:
    values, _ = resolve_values(release, globals_)
    data = {
        "chart": release.chart,
        "repo": release.repo,
        "version": release.version,
        "values": values,
        "wait": release.wait,
        "timeout": release.timeout,
        "namespace_labels": release.namespace_labels,
    }
    return json.dumps(data, sort_keys=True, default=str)


def _diff_reason(old: Release, new: Release, old_id: str, new_id: str) -> str:
    if old.version != new.version:
        return f"chart version {old.version} -> {new.version}"
    if (old.chart, old.repo) != (new.chart, new.repo):
        return f"chart {old.source()} -> {new.source()}"
    if json.loads(old_id)["values"] != json.loads(new_id)["values"]:
        return "values changed"
    return "settings changed"


def changes(
    desired_addons: dict[str, Any] | None, applied_addons: dict[str, Any] | None
) -> list[Change]:
    """What applying desired_addons changes after applied_addons (the `addons:` sections).

    Removals come first, dependents before what they depend on; then installs and upgrades
    wave by wave. Releases that were applied and are now disabled or deleted are removed
    (pruning). Assumes desired_addons is valid (validate first); raises CycleError otherwise.
    """
    desired_all, _ = expand(desired_addons or {})
    applied_all, _ = expand(applied_addons or {})
    desired = enabled(desired_all)
    applied = enabled(applied_all)
    desired_globals = globals_of(desired_addons or {})
    applied_globals = globals_of(applied_addons or {})
    wanted = {(r.name, r.namespace): r for r in desired}
    disabled = {r.name for r in desired_all if not r.enabled}

    result: list[Change] = []
    try:
        old_order = removal_order(applied)
    except CycleError:
        old_order = sorted(applied, key=lambda r: r.name)
    for old in old_order:
        if (old.name, old.namespace) in wanted:
            continue
        if old.name in disabled:
            reason = "disabled (enabled: false)"
        elif any(r.name == old.name for r in desired):
            reason = f"moved to another namespace (was {old.namespace})"
        else:
            reason = "deleted from cluster.yaml"
        result.append(Change("remove", old.name, old.namespace, reason))

    previous = {(r.name, r.namespace): r for r in applied}
    for number, wave in enumerate(waves(desired), start=1):
        for new in wave:
            before = previous.get((new.name, new.namespace))
            if before is None:
                result.append(Change("install", new.name, new.namespace, "new release", number))
                continue
            old_id = _identity(before, applied_globals)
            new_id = _identity(new, desired_globals)
            if old_id == new_id:
                result.append(Change("unchanged", new.name, new.namespace, "", number))
            else:
                reason = _diff_reason(before, new, old_id, new_id)
                result.append(Change("upgrade", new.name, new.namespace, reason, number))
    return result


def applied_addons(repo_root: Path) -> dict[str, Any] | None:
    """The addons: section of state/applied.yaml; None before the first apply."""
    spec = applied_file.applied_spec(repo_root)
    if spec is None:
        return None
    addons = spec.get("addons")
    return addons if isinstance(addons, dict) else {}


def plan(repo_root: Path, desired_addons: dict[str, Any] | None) -> list[Change]:
    """changes() against what the cluster repo records as applied."""
    return changes(desired_addons, applied_addons(repo_root))


def summary(steps: list[Change]) -> dict[str, Any]:
    """Changes in the shape plan.Action.data uses: install/update/prune name lists, plus one
    detail line per step that does something, removals (pruning) first."""
    data: dict[str, Any] = {"install": [], "update": [], "prune": [], "details": []}
    for step in steps:
        if step.action == "unchanged":
            continue
        key = {"install": "install", "upgrade": "update", "remove": "prune"}[step.action]
        data[key].append(step.name)
        where = f"{step.namespace}/{step.name}"
        data["details"].append(
            f"{'prune' if step.action == 'remove' else step.action} {where}"
            + (f" ({step.reason})" if step.reason else "")
        )
    return data
