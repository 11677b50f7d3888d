"""The presets' real upstream charts as a Helm repository served on loopback.

Where the charts come from: K8S_INSTALL_CHART_SOURCES names a directory that holds each chart's
source at its pinned tag, DIR/NAME-VERSION/<path in its repository>, as
`scripts/chart-sources.sh DIR` unpacks it from bare git mirrors (tests/fixtures/chart-sources.tsv
lists chart, version, mirror, tag and paths). `.ci/run` fills it. Nothing of the charts is in this
repository.

What `build()` makes of them, in a work directory:
- every chart packaged with `helm package`, dependencies first: a dependency the source does not
  carry in its charts/ (kube-prometheus-stack's grafana, argo-cd's redis-ha, ...) is packaged
  from its own source and put in the parent's charts/, so the parent packages without network;
- cert-manager assembled as its release build does (make/manifests.mk): Chart.yaml from
  Chart.template.yaml with the version set, and deploy/crds/*.yaml joined into
  templates/crds.yaml;
- one directory per upstream repository, named after its URL
  (`https://metallb.github.io/metallb` -> `metallb.github.io/metallb/`), holding the archives
  that repository publishes and the index.yaml `helm repo index` writes for them (relative URLs,
  a sha256 `digest` per version);
- nginx serving that tree on 127.0.0.1 (tests/test_bundle_servers.py's `nginx`).

The session fixture `chart_repo` (tests/conftest.py) yields a `ChartRepo`:
- `base_url`: `http://127.0.0.1:PORT`, the served root;
- `mirrors`: upstream repository URL (as the presets write it, without a trailing '/') -> its
  loopback URL, ready for `bundle build --mirror UPSTREAM=LOOPBACK` (`bundle.sources.rewrite`);
- `index(repo_url)`: the parsed index.yaml of one upstream repository (either spelling);
- `entry(chart, version)`: that chart version's index entry (`urls`, `digest`, ...);
- `archive(chart, version)`: the packaged .tgz on disk (also for the dependencies);
- `url(chart, version)`: where the loopback server serves it;
- `charts_dir`: a flat directory of every archive, for K8S_INSTALL_CHARTS / --charts-dir.

Without K8S_INSTALL_CHART_SOURCES, or with a chart missing from it, the tests that need it
fail in CI (CI=true) and skip elsewhere, naming what is missing (`unavailable`).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s_install.model import addon_presets
from test_bundle_servers import need_servers, nginx

ENV_SOURCES = "K8S_INSTALL_CHART_SOURCES"
TABLE = Path(__file__).parent / "fixtures" / "chart-sources.tsv"


@dataclass(frozen=True)
class Source:
    """One row of tests/fixtures/chart-sources.tsv."""

    chart: str
    version: str
    mirror: str
    tag: str
    paths: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.chart}-{self.version}"


def table() -> list[Source]:
    rows = []
    for line in TABLE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        chart, version, mirror, tag, paths = line.split("\t")
        rows.append(Source(chart, version, mirror, tag, tuple(paths.split())))
    return rows


def unavailable(reason: str) -> None:
    """A test's prerequisite is missing: fail in CI, skip on a developer's machine."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)", pytrace=False)
    pytest.skip(reason)


def sources_dir() -> Path:
    """K8S_INSTALL_CHART_SOURCES with every chart of the table in it, or fail/skip."""
    value = os.environ.get(ENV_SOURCES)
    how = f"run `bash scripts/chart-sources.sh DIR` and set {ENV_SOURCES}=DIR"
    if not value:
        unavailable(f"{ENV_SOURCES} is not set: the upstream chart sources are needed; {how}")
    root = Path(str(value))
    missing = [
        f"{s.chart} {s.version} ({s.mirror} tag {s.tag})"
        for s in table()
        if not (root / s.key / s.paths[0]).is_dir()
    ]
    if missing:
        unavailable(f"{ENV_SOURCES}={root} lacks {', '.join(missing)}; {how}")
    return root


def repo_path(url: str) -> str:
    """The directory an upstream repository URL is served from: its host and path."""
    return url.split("://", 1)[-1].strip("/")


@dataclass(frozen=True)
class ChartRepo:
    base_url: str
    root: Path
    charts_dir: Path
    mirrors: dict[str, str]
    archives: dict[tuple[str, str], Path]
    homes: dict[tuple[str, str], str]  # (chart, version) -> upstream repository URL

    def index(self, repo_url: str) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(
            (self.root / repo_path(repo_url) / "index.yaml").read_text()
        )
        return data

    def entry(self, chart: str, version: str) -> dict[str, Any]:
        home = self.homes[(chart, version)]
        for entry in self.index(home)["entries"][chart]:
            if entry["version"] == version.lstrip("v") or entry["version"] == version:
                return dict(entry)
        raise KeyError((chart, version))

    def archive(self, chart: str, version: str) -> Path:
        return self.archives[(chart, version)]

    def url(self, chart: str, version: str) -> str:
        home = self.homes[(chart, version)]
        return f"{self.mirrors[home.rstrip('/')]}/{self.archive(chart, version).name}"


def _matches(constraint: str, version: str) -> bool:
    """A dependency's version constraint as the charts here write them: exact or with '*'."""
    constraint = constraint.strip().lstrip("=").strip()
    return fnmatch.fnmatchcase(version.lstrip("v"), constraint.lstrip("v"))


def _chart_yaml(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((directory / "Chart.yaml").read_text())
    return data


def _assemble_cert_manager(source: Source, work: Path) -> None:
    """cert-manager's chart as its release build makes it (make/manifests.mk)."""
    chart = work / source.paths[0]
    template = chart / "Chart.template.yaml"
    if (chart / "Chart.yaml").exists() or not template.exists():
        return
    meta = yaml.safe_load(template.read_text())
    meta["version"] = meta["appVersion"] = source.version
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    template.unlink()
    crds = sorted((work / source.paths[1]).glob("*.yaml"))
    (chart / "templates" / "crds.yaml").write_text("\n---\n".join(p.read_text() for p in crds))


class _Builder:
    def __init__(self, helm: Path, sources: Path, work: Path) -> None:
        self.helm = helm
        self.sources = sources
        self.work = work
        self.rows = {(s.chart, s.version): s for s in table()}
        self.packaged: dict[tuple[str, str], Path] = {}
        self.homes: dict[tuple[str, str], str] = {}
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work / "helm-home"),
            "HELM_CACHE_HOME": str(work / "helm-home" / "cache"),
            "HELM_CONFIG_HOME": str(work / "helm-home" / "config"),
            "HELM_DATA_HOME": str(work / "helm-home" / "data"),
        }

    def _find(self, chart: str, constraint: str) -> Source:
        found = [s for (name, _v), s in self.rows.items() if name == chart]
        chosen = [s for s in found if _matches(constraint, s.version)]
        if not chosen:
            raise RuntimeError(
                f"no source for dependency {chart} {constraint} in {TABLE.name} "
                f"(it has {', '.join(s.version for s in found) or 'none'})"
            )
        return chosen[0]

    def package(self, source: Source) -> Path:
        if (source.chart, source.version) in self.packaged:
            return self.packaged[(source.chart, source.version)]
        copy = self.work / "src" / source.key
        if not copy.exists():
            shutil.copytree(self.sources / source.key, copy, symlinks=True)
        _assemble_cert_manager(source, copy)
        chart_dir = copy / source.paths[0]
        meta = _chart_yaml(chart_dir)
        for dep in meta.get("dependencies") or []:
            repository = str(dep.get("repository") or "")
            if not repository or repository.startswith("file://"):
                continue  # a subchart the source carries in charts/
            vendored = chart_dir / "charts"
            if (vendored / dep["name"]).is_dir() or list(vendored.glob(f"{dep['name']}-*.tgz")):
                continue  # the source ships it packaged (metallb's frr-k8s)
            needed = self._find(dep["name"], str(dep["version"]))
            archive = self.package(needed)
            self.homes.setdefault((needed.chart, needed.version), repository)
            vendored.mkdir(exist_ok=True)
            shutil.copy2(archive, vendored / archive.name)
        out = self.work / "packaged"
        out.mkdir(exist_ok=True)
        result = subprocess.run(
            [str(self.helm), "package", str(chart_dir), "--destination", str(out)],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"helm package {source.key}: {result.stderr.strip()}")
        archive = out / f"{meta['name']}-{meta['version']}.tgz"
        assert archive.is_file(), result.stdout
        self.packaged[(source.chart, source.version)] = archive
        return archive

    def publish(self, root: Path) -> dict[str, str]:
        """Copy each archive into its repository's directory and index each; returns
        {upstream URL: directory under root}."""
        for preset in addon_presets.presets().values():
            if preset.repo:
                self.homes[(preset.chart, preset.version)] = preset.repo
        repos: dict[str, str] = {}
        for key, archive in sorted(self.packaged.items()):
            home = self.homes.get(key)
            if home is None:
                continue
            directory = root / repo_path(home)
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copy2(archive, directory / archive.name)
            repos[home.rstrip("/")] = repo_path(home)
        for relative in sorted(set(repos.values())):
            subprocess.run(
                [str(self.helm), "repo", "index", str(root / relative)],
                check=True,
                capture_output=True,
                env=self.env,
            )
        return repos


def build(helm: Path, sources: Path, work: Path) -> tuple[Path, Path, dict[str, str], _Builder]:
    """Package every chart of the table and lay out the repositories (not served yet)."""
    builder = _Builder(helm, sources, work)
    for source in table():
        builder.package(source)
    root = work / "www"
    repos = builder.publish(root)
    flat = work / "charts"
    flat.mkdir(exist_ok=True)
    for archive in builder.packaged.values():
        shutil.copy2(archive, flat / archive.name)
    return root, flat, repos, builder


@contextmanager
def serve(helm: Path, sources: Path, work: Path) -> Iterator[ChartRepo]:
    """Build the repositories and serve them with nginx on loopback while the context lasts."""
    need_servers()
    root, flat, repos, builder = build(helm, sources, work)
    with nginx(root, work / "nginx") as (base_url, _log):
        yield ChartRepo(
            base_url=base_url,
            root=root,
            charts_dir=flat,
            mirrors={url: f"{base_url}/{path}" for url, path in repos.items()},
            archives={k: flat / v.name for k, v in builder.packaged.items()},
            homes={k: v.rstrip("/") for k, v in builder.homes.items()},
        )
