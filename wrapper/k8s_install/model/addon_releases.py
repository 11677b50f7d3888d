"""Releases as k8s-install sees them: presets expanded, overrides merged, defaults filled in."""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import Any

from k8s_install.base.errors import Problem, shown
from k8s_install.model import addon_presets
from k8s_install.model.addon_globals import Resolver
from k8s_install.model.schema import RELEASE

DEFAULT_TIMEOUT = str(RELEASE["properties"]["timeout"]["default"])


@dataclass(frozen=True)
class Release:
    """One Helm release. `depends_on` must exist; `after` (from a preset) orders only if present."""

    name: str
    index: int
    chart: str
    repo: str = ""
    version: str = ""
    namespace: str = "default"
    values: dict[str, Any] = field(default_factory=dict)
    user_values: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    enabled: bool = True
    wait: bool = True
    timeout: str = DEFAULT_TIMEOUT
    preset: str | None = None
    namespace_labels: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"addons.releases[{self.index}]"

    @property
    def kind(self) -> str:
        """repo, oci, builtin (a chart shipped with k8s-install) or local."""
        if self.chart.startswith("oci://"):
            return "oci"
        if self.chart.startswith(addon_presets.BUILTIN):
            return "builtin"
        return "repo" if self.repo else "local"

    def source(self) -> str:
        if self.kind == "repo":
            return f"{self.repo.rstrip('/')}/{self.chart}"
        return self.chart

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "preset": self.preset,
            "chart": self.chart,
            "repo": self.repo,
            "version": self.version,
            "namespace": self.namespace,
            "depends_on": list(self.depends_on),
            "enabled": self.enabled,
            "wait": self.wait,
            "timeout": self.timeout,
            "namespace_labels": dict(self.namespace_labels),
        }


def merge(base: Any, override: Any) -> Any:
    """Deep merge: mappings merge key by key; anything else in override replaces base."""
    if isinstance(base, dict) and isinstance(override, dict):
        result = copy.deepcopy(base)
        for key, value in override.items():
            result[key] = merge(result.get(key), value) if key in result else copy.deepcopy(value)
        return result
    return copy.deepcopy(override)


def _entries(addons: dict[str, Any]) -> list[Any]:
    releases = addons.get("releases")
    return releases if isinstance(releases, list) else []


def expand(addons: dict[str, Any]) -> tuple[list[Release], list[Problem]]:
    """Every well-formed release entry as a Release, and problems with the others."""
    releases: list[Release] = []
    problems: list[Problem] = []
    known = addon_presets.presets()
    for index, entry in enumerate(_entries(addons)):
        where = f"addons.releases[{index}]"
        if not isinstance(entry, dict):
            continue  # the schema reports it
        preset_name = entry.get("preset")
        preset = None
        if preset_name is not None:
            preset = known.get(str(preset_name))
            if preset is None:
                close = (
                    difflib.get_close_matches(str(preset_name), list(known), n=1)
                    if len(str(preset_name)) <= 64
                    else []
                )
                problems.append(
                    Problem(
                        f"{where}.preset",
                        f"unknown preset '{shown(preset_name)}'",
                        f"did you mean '{close[0]}'?"
                        if close
                        else f"use one of: {', '.join(sorted(known))}",
                    )
                )
                continue
        name = entry.get("name") or (preset.name if preset else None)
        if not isinstance(name, str):
            problems.append(
                Problem(
                    where,
                    "a release needs a name or a preset",
                    "add `name: NAME` with `chart:` and `version:`, or `preset: NAME`",
                )
            )
            continue
        chart = entry.get("chart", preset.chart if preset else None)
        if not isinstance(chart, str) or not chart:
            problems.append(
                Problem(
                    f"{where}.chart",
                    f"release '{name}' has no chart",
                    "set chart: a repo chart name (with repo:), an oci:// reference or a "
                    "local path, or use a preset",
                )
            )
            continue
        user_values = entry.get("values") if isinstance(entry.get("values"), dict) else {}
        assert isinstance(user_values, dict)
        # A chart override drops the preset's repo unless one is given again.
        default_repo = preset.repo if preset and "chart" not in entry else ""
        hard = entry.get("depends_on")
        labels = entry.get("namespace_labels")
        user_labels = labels if isinstance(labels, dict) else {}
        releases.append(
            Release(
                name=name,
                index=index,
                chart=chart,
                repo=str(entry.get("repo", default_repo) or ""),
                version=str(entry.get("version", preset.version if preset else "") or ""),
                namespace=str(entry.get("namespace", preset.namespace if preset else name)),
                values=merge(preset.values if preset else {}, user_values),
                user_values=copy.deepcopy(user_values),
                depends_on=tuple(str(d) for d in hard) if isinstance(hard, list) else (),
                after=preset.depends_on if preset and hard is None else (),
                enabled=entry.get("enabled", True) is not False,
                wait=entry.get("wait", True) is not False,
                timeout=str(entry.get("timeout", DEFAULT_TIMEOUT)),
                preset=preset.name if preset else None,
                namespace_labels={
                    **(preset.namespace_labels if preset else {}),
                    **{str(k): str(v) for k, v in user_labels.items()},
                },
            )
        )
    return releases, problems


def globals_of(addons: dict[str, Any]) -> dict[str, Any]:
    value = addons.get("globals")
    return value if isinstance(value, dict) else {}


def resolve_values(
    release: Release, globals_: dict[str, Any], resolver: Resolver | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """The release's values with every globals reference replaced; problems name the path."""
    resolver = resolver or Resolver(globals_)
    problems: list[Problem] = []
    note = f" (in preset {release.preset})" if release.preset else ""

    def walk(value: Any, user: Any, path: str) -> Any:
        if isinstance(value, dict):
            user_map = user if isinstance(user, dict) else {}
            return {k: walk(v, user_map.get(k, _ABSENT), f"{path}.{k}") for k, v in value.items()}
        from_preset = user is _ABSENT
        return resolver.resolve(value, path, problems, note if from_preset else "")

    resolved = walk(release.values, release.user_values, f"{release.path}.values")
    assert isinstance(resolved, dict)
    return resolved, problems


_ABSENT = object()


def dependencies(release: Release, releases: list[Release]) -> list[str]:
    """Names this release waits for: every depends_on, plus preset orderings that are present."""
    names = {r.name for r in releases}
    found = [d for d in release.depends_on if d in names]
    for soft in release.after:
        for other in releases:
            if other.name != release.name and soft in (other.name, other.preset):
                found.append(other.name)
    return sorted(set(found))


def edges(releases: list[Release]) -> dict[str, list[str]]:
    """name -> the names it must come after."""
    graph: dict[str, list[str]] = {}
    for release in releases:  # a duplicated name (reported elsewhere) keeps both edge sets
        graph[release.name] = sorted(
            {*graph.get(release.name, []), *dependencies(release, releases)}
        )
    return graph


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None. Deterministic: names are visited in sorted order."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, [])):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and nxt in graph:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
