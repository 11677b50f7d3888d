"""Checks of the addons: section, beyond the schema: pins, names, references, the graph."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from typing import Any

from k8s_install.base.errors import Problem, shown
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
    resolver = Resolver(globals_of(addons))
    for release in releases:
        found += resolve_values(release, resolver.globals, resolver)[1]
    return found


def _release(release: Release) -> list[Problem]:
    found: list[Problem] = []
    version = release.version
    if release.kind != "local" or version:
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
    if not DURATION.match(release.timeout):
        found.append(
            Problem(
                f"{release.path}.timeout",
                f"'{release.timeout}' is not a duration",
                "write it like 90s, 5m or 1h30m",
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
