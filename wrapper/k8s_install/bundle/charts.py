"""Helm charts of the cluster's addons, resolved through their repositories' index.yaml.

A Helm repository's index names every chart version with its URL and sha256 digest, so a chart
enters a bundle with a checksum its publisher declared, like the engine's binaries (the build
refuses other bytes, and checks each archive's members: addons.chart_files). Local charts live in
the cluster repository already, builtin ones in k8s-install; OCI charts are reported and left out.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from k8s_install.base.errors import K8sInstallError
from k8s_install.bundle.sources import TIMEOUT, USER_AGENT, rewrite
from k8s_install.model import addon_releases
from k8s_install.model.config import Cluster


@dataclass(frozen=True)
class ChartSpec:
    name: str
    version: str
    url: str
    sha256: str

    @property
    def path(self) -> str:
        return f"charts/{self.name}-{self.version}.tgz"


def _index(repo: str, mirrors: Mapping[str, str]) -> dict[str, Any]:
    url = rewrite(repo.rstrip("/") + "/index.yaml", mirrors)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            data = yaml.safe_load(response.read())
    except (urllib.error.URLError, OSError, yaml.YAMLError) as exc:
        raise K8sInstallError(
            f"{url}: cannot read the chart repository index ({getattr(exc, 'reason', exc)})",
            fix="check the repository URL, or point --mirror at a copy",
        ) from exc
    return data if isinstance(data, dict) else {}


def resolve(repo: str, chart: str, version: str, mirrors: Mapping[str, str]) -> ChartSpec:
    entries = _index(repo, mirrors).get("entries", {}).get(chart, [])
    for entry in entries:
        if (
            str(entry.get("version")) != version.lstrip("v")
            and str(entry.get("version")) != version
        ):
            continue
        digest = str(entry.get("digest") or "")
        urls = entry.get("urls") or []
        if len(digest) != 64 or not urls:
            raise K8sInstallError(
                f"{repo}: {chart} {version} has no sha256 digest in the index",
                fix="a chart without a published digest cannot be verified; add it to a plan "
                "file with its sha256",
            )
        url = urllib.parse.urljoin(repo.rstrip("/") + "/", str(urls[0]))
        return ChartSpec(chart, str(entry["version"]), url, digest)
    raise K8sInstallError(
        f"{repo}: no chart {chart} version {version} in the index",
        fix="check the release's chart and version in cluster.yaml",
    )


def for_cluster(
    cluster: Cluster, mirrors: Mapping[str, str] | None = None
) -> tuple[list[ChartSpec], list[str]]:
    """(charts to carry, notes about releases left out)."""
    releases, _problems = addon_releases.expand(cluster.section("addons"))
    charts: dict[str, ChartSpec] = {}
    notes = []
    for release in releases:
        if not release.enabled:
            continue
        if release.kind == "builtin":
            notes.append(f"{release.name}: builtin chart {release.chart} ships with k8s-install")
            continue
        if release.kind != "repo":
            notes.append(f"{release.name}: {release.kind} chart {release.chart} is not bundled")
            continue
        if not release.version:
            notes.append(f"{release.name}: no chart version pinned; not bundled")
            continue
        spec = resolve(release.repo, release.chart, release.version, mirrors or {})
        charts[spec.path] = spec
    return sorted(charts.values(), key=lambda c: c.path), notes
