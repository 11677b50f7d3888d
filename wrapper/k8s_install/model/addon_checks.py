"""Checks of the addons: section, beyond the schema: pins, names, references, the graph."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from typing import Any

import yaml

from k8s_install.base.errors import Problem, shown
from k8s_install.model import addon_presets, names
from k8s_install.model.addon_globals import Resolver, globals_problems
from k8s_install.model.addon_releases import (
    Release,
    edges,
    expand,
    find_cycle,
    globals_of,
    resolve_values,
)

# An exact SemVer version, as Helm charts use: 1.2.3, v1.2.3, 1.2.3-rc.1, 1.2.3+build.
PINNED = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
DURATION = re.compile(r"^(\d+(\.\d+)?(h|m|s|ms))+$")
RESERVED = ("argocd",)
PIN_FIX = "pin an exact chart version, e.g. version: 1.2.3 (no ranges, no 'latest')"


def problems(addons: dict[str, Any]) -> list[Problem]:
    """Every problem in the addons: section; empty when it is fine."""
    found = globals_problems(addons.get("globals"))
    releases, expand_problems = expand(addons)
    found += expand_problems
    found += _names(releases)
    for release in releases:
        found += _release(release)
    found += _dependencies(releases)
    found += _presets(releases)
    resolver = Resolver(globals_of(addons))
    for release in releases:
        found += resolve_values(release, resolver.globals, resolver)[1]
    return found


def _release(release: Release) -> list[Problem]:
    found: list[Problem] = []
    version = release.version
    if release.kind not in ("local", "builtin") or version:
        if not version:
            found.append(Problem(f"{release.path}.version", "no chart version", PIN_FIX))
        elif not PINNED.match(version):
            found.append(
                Problem(
                    f"{release.path}.version",
                    f"'{shown(version)}' is not a pinned version",
                    PIN_FIX,
                )
            )
    if release.kind == "oci" and release.repo:
        found.append(
            Problem(
                f"{release.path}.repo",
                "an oci:// chart takes no repo",
                "remove repo:; the oci:// reference says where the chart is",
            )
        )
    if release.kind == "oci" and re.search(r":[^/]+$", release.chart.removeprefix("oci://")):
        found.append(
            Problem(
                f"{release.path}.chart",
                "the oci:// reference carries a tag",
                "drop ':TAG' and pin it with version:",
            )
        )
    if release.kind == "local" and not release.chart.startswith(("/", "./", "../", "~")):
        found.append(
            Problem(
                f"{release.path}.chart",
                f"chart '{release.chart}' has no repo and is not a path",
                "add repo: URL, use an oci:// reference, or write a local path as ./charts/NAME",
            )
        )
    if release.kind == "builtin":
        found += _builtin(release)
    if not DURATION.match(release.timeout):
        found.append(
            Problem(
                f"{release.path}.timeout",
                f"'{release.timeout}' is not a duration",
                "write it like 90s, 5m or 1h30m",
            )
        )
    found += _namespace_labels(release)
    return found


def _namespace_labels(release: Release) -> list[Problem]:
    """Each namespace label must be a Kubernetes label: kubectl would refuse it on the node."""
    found = []
    for key, value in release.namespace_labels.items():
        where = f"{release.path}.namespace_labels.{shown(key)}"
        reason = names.label_key_problem(key) or names.label_value_problem(value)
        if reason:
            found.append(
                Problem(
                    where,
                    f"'{shown(key)}: {shown(value)}' is not a Kubernetes label: {reason}",
                    "use a label key like pod-security.kubernetes.io/enforce and a value of at "
                    "most 63 characters (letters, digits, '-', '_', '.')",
                )
            )
    return found


def _builtin(release: Release) -> list[Problem]:
    chart = addon_presets.builtin_chart(release.chart)
    if chart is None:
        known = ", ".join(addon_presets.BUILTIN + n for n in addon_presets.builtin_names())
        return [
            Problem(
                f"{release.path}.chart",
                f"no chart {shown(release.chart)} ships with k8s-install",
                f"use one of: {known}",
            )
        ]
    if release.repo:
        return [
            Problem(
                f"{release.path}.repo",
                "a builtin:// chart takes no repo",
                "remove repo:; the chart ships with k8s-install",
            )
        ]
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    shipped = str(meta.get("version", "")) if isinstance(meta, dict) else ""
    if release.version and release.version.lstrip("v") != shipped.lstrip("v"):
        return [
            Problem(
                f"{release.path}.version",
                f"{release.chart} ships with k8s-install at version {shipped}, not "
                f"{shown(release.version)}",
                f"set version: {shipped}, or leave version out",
            )
        ]
    return []


def _presets(releases: list[Release]) -> list[Problem]:
    """Deprecated presets (a warning), and presets whose required releases are missing."""
    found: list[Problem] = []
    active = [r for r in releases if r.enabled]
    for release in active:
        preset = addon_presets.presets().get(release.preset or "")
        if preset is None:
            continue
        if preset.deprecated:
            instead = f"use the {preset.replacement} preset" if preset.replacement else ""
            found.append(
                Problem(
                    f"{release.path}.preset",
                    f"preset {preset.name} is deprecated: {preset.deprecated}",
                    instead or "move to a maintained replacement",
                    severity="warning",
                )
            )
        for needed in preset.requires:
            if not any(
                other is not release and needed in (other.name, other.preset) for other in active
            ):
                found.append(
                    Problem(
                        f"{release.path}.preset",
                        f"'{release.name}' (preset {preset.name}) needs an enabled {needed} "
                        "release, which installs before it",
                        f"add `- preset: {needed}` to addons.releases, or remove '{release.name}'",
                    )
                )
    return found


def _names(releases: list[Release]) -> list[Problem]:
    counts = Counter(r.name for r in releases)
    first: dict[str, Release] = {}
    found: list[Problem] = []
    for release in releases:
        if release.name in RESERVED:
            found.append(
                Problem(
                    f"{release.path}.name",
                    f"'{release.name}' is reserved: rendered/addons/{release.name}/ holds "
                    "the Argo CD Applications",
                    "pick another name",
                )
            )
        if counts[release.name] > 1 and release.name in first:
            found.append(
                Problem(
                    f"{release.path}.name",
                    f"duplicate release name '{release.name}' (also {first[release.name].path})",
                    "give each release its own name: set `name:` on one of them",
                )
            )
        first.setdefault(release.name, release)
    return found


def _dependencies(releases: list[Release]) -> list[Problem]:
    found: list[Problem] = []
    by_name: dict[str, Release] = {}
    for release in releases:
        by_name.setdefault(release.name, release)
    for release in releases:
        for index, dep in enumerate(release.depends_on):
            where = f"{release.path}.depends_on[{index}]"
            target = by_name.get(dep)
            if target is None:
                close = difflib.get_close_matches(dep, list(by_name), n=1) if len(dep) <= 64 else []
                found.append(
                    Problem(
                        where,
                        f"'{shown(dep)}' is not a release in addons.releases",
                        f"did you mean '{close[0]}'?"
                        if close
                        else "name a release defined in addons.releases",
                    )
                )
            elif release.enabled and not target.enabled:
                found.append(
                    Problem(
                        where,
                        f"'{release.name}' is enabled but depends on '{dep}', which is disabled",
                        f"enable '{dep}', or disable '{release.name}' too",
                    )
                )
    cycle = find_cycle(edges(releases))
    if cycle:
        start = by_name[cycle[0]]
        found.append(
            Problem(
                f"{start.path}.depends_on",
                f"dependency cycle: {' -> '.join(cycle)}",
                "remove one of these depends_on entries",
            )
        )
    return found
