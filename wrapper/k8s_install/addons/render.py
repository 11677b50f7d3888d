"""`addons render`: resolved values and `helm template` output per release, into the cluster repo.

rendered/addons/<release>/values.yaml    the values helm gets, every global resolved
rendered/addons/<release>/manifest.yaml  `helm template` output, canonical (sorted keys; Secret
                                         data redacted)
rendered/addons/<release>/release.yaml   chart, version, namespace, wave, dependencies
Run twice, the bytes are the same: every change to an addon is a reviewable Git diff.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k8s_install.addons import chart_files, manifests, sealing, values_schema
from k8s_install.addons.helm import Helm, HelmError
from k8s_install.addons.order import enabled, waves
from k8s_install.base.errors import InvalidInput, K8sInstallError, Problem
from k8s_install.model import addon_presets, yamlfile
from k8s_install.model.addon_releases import (
    Release,
    dependencies,
    expand,
    globals_of,
    resolve_values,
)

RENDERED = Path("rendered") / "addons"
ENV_CHARTS = "K8S_INSTALL_CHARTS"  # extra chart directories, os.pathsep separated
HEADER = "# Rendered by k8s-install from cluster.yaml; do not edit. Change cluster.yaml instead.\n"
FILES = ("release.yaml", "values.yaml", "manifest.yaml")
SCHEMA_REFUSED = "values don't meet the specifications of the schema"


@dataclass
class Rendered:
    release: Release
    wave: int
    files: dict[str, str]  # file name -> text
    chart: Path
    changed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.release.name,
            "namespace": self.release.namespace,
            "wave": self.wave,
            "chart": str(self.chart),
            "changed": self.changed,
        }


@dataclass
class Result:
    directory: Path
    releases: list[Rendered]
    removed: list[str] = field(default_factory=list)
    extra_files: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "releases": [r.as_dict() for r in self.releases],
            "removed": self.removed,
            "extra_files": [str(p) for p in self.extra_files],
        }


@dataclass(frozen=True)
class ChartSources:
    """Where charts are found on disk: the cluster repo (local paths), the search directories
    (--charts-dir, K8S_INSTALL_CHARTS, the offline bundle's charts/) and the cache."""

    root: Path
    charts_dirs: tuple[Path, ...] = ()
    cache: Path | None = None

    def chart_cache(self) -> Path:
        return self.cache or self.root / ".k8s-install" / "charts"

    def search_dirs(self) -> list[Path]:
        extra = [Path(p) for p in os.environ.get(ENV_CHARTS, "").split(os.pathsep) if p]
        return [*self.charts_dirs, *extra]


@dataclass
class Settings:
    """Where charts come from, and what cluster to render for."""

    root: Path
    helm: Helm
    kube_version: str
    charts_dirs: tuple[Path, ...] = ()
    cache: Path | None = None
    workers: int | None = None  # parallel helm template runs; default twice the CPUs

    @property
    def sources(self) -> ChartSources:
        return ChartSources(self.root, self.charts_dirs, self.cache)

    def chart_cache(self) -> Path:
        return self.sources.chart_cache()

    def search_dirs(self) -> list[Path]:
        return self.sources.search_dirs()


def _chart_version(path: Path) -> str | None:
    chart_yaml = path / "Chart.yaml"
    if not chart_yaml.is_file():
        return None
    data = yaml.safe_load(chart_yaml.read_text())
    return str(data.get("version")) if isinstance(data, dict) else None


def _same_version(a: str, b: str) -> bool:
    return a.lstrip("v") == b.lstrip("v")


class RefusedChart(InvalidInput):
    """A release's chart archive or directory that is unsafe to read (chart_files)."""


def _refused(release: Release, exc: InvalidInput) -> RefusedChart:
    return RefusedChart(
        f"{release.path}: release '{release.name}': {exc}",
        [Problem(f"{release.path}.chart", str(exc), exc.fix or chart_files.FIX)],
    )


def _local(release: Release, settings: ChartSources) -> Path:
    """The chart directory (or archive) of a local or builtin release, checked."""
    if release.kind == "builtin":
        builtin = addon_presets.builtin_chart(release.chart)
        if builtin is None:
            raise InvalidInput(
                f"{release.path}.chart: no chart {release.chart} ships with k8s-install",
                [
                    Problem(
                        f"{release.path}.chart",
                        f"no chart {release.chart} ships with k8s-install",
                        "use one of: "
                        + ", ".join(
                            addon_presets.BUILTIN + n for n in addon_presets.builtin_names()
                        ),
                    )
                ],
            )
        path = builtin
    else:
        path = (settings.root / Path(release.chart).expanduser()).resolve()
    if not path.exists():
        raise InvalidInput(
            f"{release.path}.chart: {release.chart} does not exist",
            [
                Problem(
                    f"{release.path}.chart",
                    f"no chart at {path}",
                    "give a path relative to cluster.yaml",
                )
            ],
        )
    found = _chart_version(path) if path.is_dir() else None
    if release.version and found and not _same_version(found, release.version):
        raise InvalidInput(
            f"{release.path}.version: the chart at {release.chart} is {found}",
            [
                Problem(
                    f"{release.path}.version",
                    f"pinned {release.version}, but {release.chart} has version {found}",
                    f"set version: {found}, or update the chart",
                )
            ],
        )
    return path


def find_chart(release: Release, settings: ChartSources) -> Path | None:
    """The chart on disk without fetching anything: a local or builtin chart, or a repo/OCI
    chart's archive or directory in the search directories or the cache; None when absent."""
    path = (
        _local(release, settings)
        if release.kind in ("local", "builtin")
        else _search(release, settings)
    )
    if path is None:
        return None
    try:
        chart_files.check(path)
    except InvalidInput as exc:
        raise _refused(release, exc) from None
    return path


def _search(release: Release, settings: ChartSources) -> Path | None:
    base = release.chart.rstrip("/").rsplit("/", 1)[-1]
    archive = f"{base}-{release.version}.tgz"
    for directory in settings.search_dirs():
        if (directory / archive).is_file():
            return directory / archive
        candidate = directory / base
        found = _chart_version(candidate)
        if found and _same_version(found, release.version):
            return candidate
    cached = settings.chart_cache() / archive
    return cached if cached.is_file() else None


def locate_chart(release: Release, settings: Settings) -> Path:
    """The chart on disk: a local path, a chart directory or archive, or a pulled archive.
    Every archive and directory is checked (chart_files) before helm reads it."""
    found = find_chart(release, settings.sources)
    if found is not None:
        return found
    base = release.chart.rstrip("/").rsplit("/", 1)[-1]
    pulled = _pull(release, settings, settings.chart_cache() / f"{base}-{release.version}.tgz")
    try:
        chart_files.check(pulled)
    except InvalidInput as exc:
        pulled.unlink()
        raise _refused(release, exc) from None
    return pulled


def _pull(release: Release, settings: Settings, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        args = ["pull", release.chart, "--version", release.version, "--destination", staging]
        if release.kind == "repo":
            args += ["--repo", release.repo]
        try:
            settings.helm.run(*args)
        except HelmError as exc:
            raise K8sInstallError(
                f"{release.path}: cannot fetch chart {release.source()} {release.version}: "
                f"{exc.message}",
                fix="check the repo URL and version, or put the chart archive in a directory "
                f"named by --charts-dir or {ENV_CHARTS} (the offline bundle's charts/)",
            ) from None
        pulled = sorted(Path(staging).glob("*.tgz"))
        if not pulled:
            raise K8sInstallError(f"helm pull of {release.source()} wrote no archive")
        os.replace(pulled[0], target)
    return target


def template(
    release: Release, chart: Path, values_text: str, settings: Settings, workdir: Path
) -> str:
    """`helm template` for one release; returns the canonical manifest text."""
    values_file = workdir / f"{release.name}.values.yaml"
    values_file.write_text(values_text)
    try:
        result = settings.helm.run(
            "template",
            release.name,
            str(chart),
            "--namespace",
            release.namespace,
            "--values",
            str(values_file),
            "--kube-version",
            settings.kube_version,
            "--include-crds",
            "--skip-tests",
        )
    except HelmError as exc:
        if SCHEMA_REFUSED in exc.message:
            # A subchart's schema (the chart's own is checked before helm runs: values_schema).
            raise InvalidInput(
                f"{release.path}.values: release '{release.name}': {exc.message}",
                [
                    Problem(
                        f"{release.path}.values",
                        f"release '{release.name}': {exc.message}",
                        "change the values the chart's values.schema.json refuses",
                    )
                ],
            ) from None
        raise K8sInstallError(
            f"{release.path}: helm template of '{release.name}' failed: {exc.message}",
            fix=f"check the values of {release.path} against the chart's values",
        ) from None
    return manifests.canonical(result.stdout)


def prepare(
    addons: dict[str, Any], root: Path | None = None
) -> list[tuple[int, Release, dict[str, Any]]]:
    """(wave, release, resolved values) for every enabled release, in install order. Given the
    cluster repo, the release of the sealed/ files gets them as values (addons/sealing.py)."""
    releases, problems = expand(addons)
    globals_ = globals_of(addons)
    prepared: list[tuple[int, Release, dict[str, Any]]] = []
    active = enabled(releases)
    for number, wave in enumerate(waves(active), start=1):
        for release in wave:
            values, found = resolve_values(release, globals_)
            problems += found
            if root is not None:
                values = sealing.with_sealed_secrets(release.chart, values, root)
            prepared.append((number, release, values))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(f"addons: {len(errors)} problem(s)", errors)
    return prepared


def release_info(release: Release, wave: int, active: list[Release]) -> dict[str, Any]:
    return {
        "name": release.name,
        "namespace": release.namespace,
        "chart": release.chart,
        "repo": release.repo,
        "version": release.version,
        "preset": release.preset,
        "wave": wave,
        "depends_on": dependencies(release, active),
        "wait": release.wait,
        "timeout": release.timeout,
    }


def render_all(addons: dict[str, Any], settings: Settings, out_dir: Path) -> Result:
    """Render every enabled release into out_dir/<release>/; delete directories of the others.

    Nothing is written unless every release renders."""
    prepared = prepare(addons, settings.root)
    active = [release for _, release, _ in prepared]
    charts = {release.name: locate_chart(release, settings) for release in active}
    refused = [
        problem
        for _, release, values in prepared
        for problem in values_schema.problems(
            release, values, chart_files.load(charts[release.name])
        )
    ]
    if any(p.severity == "error" for p in refused):
        raise InvalidInput(f"addons: {len(refused)} value(s) the charts refuse", refused)
    staging_root = settings.root / ".k8s-install"
    staging_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=staging_root, prefix="render-") as work:
        workdir = Path(work)

        def one(item: tuple[int, Release, dict[str, Any]]) -> Rendered:
            wave, release, values = item
            values_text = HEADER + yamlfile.dump(values)
            manifest = template(release, charts[release.name], values_text, settings, workdir)
            info = HEADER + yamlfile.dump(release_info(release, wave, active))
            files = {"release.yaml": info, "values.yaml": values_text, "manifest.yaml": manifest}
            return Rendered(release, wave, files, charts[release.name])

        workers = settings.workers or max(1, min(len(prepared), (os.cpu_count() or 1) * 2))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            rendered = list(pool.map(one, prepared))
    result = Result(out_dir, rendered)
    for item in rendered:
        item.changed = _write(out_dir / item.release.name, item.files)
    keep = {r.release.name for r in rendered} | {"argocd"}
    if out_dir.is_dir():
        for child in sorted(out_dir.iterdir()):
            if child.is_dir() and child.name not in keep and (child / "release.yaml").is_file():
                shutil.rmtree(child)
                result.removed.append(child.name)
    return result


def _write(directory: Path, files: dict[str, str]) -> bool:
    """Write files whose text differs; True when anything changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = False
    for name, text in files.items():
        path = directory / name
        if path.is_file() and path.read_text() == text:
            continue
        path.write_text(text)
        changed = True
    for stale in directory.iterdir():
        if stale.is_file() and stale.name not in files:
            stale.unlink()
            changed = True
    return changed


def schema_problems(addons: dict[str, Any], sources: ChartSources) -> list[Problem]:
    """Values the charts' values.schema.json refuse, for every enabled release whose chart is
    on disk already (local, builtin, search directories, the offline bundle, the cache): nothing
    is fetched. A chart archive that is unsafe to read is reported too."""
    try:
        prepared = prepare(addons, sources.root)
    except InvalidInput as exc:
        return list(exc.problems)
    found: list[Problem] = []
    for _, release, values in prepared:
        try:
            chart = find_chart(release, sources)
        except RefusedChart as exc:
            found += exc.problems
            continue
        except InvalidInput:
            continue  # a missing local chart, or another version: `addons render` says so
        if chart is None:
            continue
        try:
            files = chart_files.load(chart)
        except InvalidInput as exc:
            found.append(Problem(f"{release.path}.chart", str(exc), exc.fix))
            continue
        found += values_schema.problems(release, values, files)
    return found


def chart_archives(addons: dict[str, Any], settings: Settings) -> dict[str, Path]:
    """release name -> chart archive, for every enabled repo or OCI release (pulled into the
    cache when missing). The offline bundle copies these into its charts/ directory; local and
    builtin charts are not in it."""
    found: dict[str, Path] = {}
    for _, release, _ in prepare(addons):
        if release.kind in ("repo", "oci"):
            found[release.name] = locate_chart(release, settings)
    return found
