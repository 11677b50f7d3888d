"""The production path for addon charts, against the real charts on loopback (tests/chart_repo.py):
`bundle build` resolves every preset chart through its repository's index.yaml, digest included
(through --mirror UPSTREAM=LOOPBACK), carries it, and `addons render` of an offline cluster uses
the bundle's copy. A chart whose bytes do not match the index digest is refused.

Needs K8S_INSTALL_CHART_SOURCES and helm (fail in CI, skip elsewhere), nginx.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from chart_repo import ChartRepo, repo_path
from k8s_install.bundle import charts, sign
from k8s_install.bundle import download_list as planner
from k8s_install.bundle import manifest as mf
from k8s_install.cli import cli
from k8s_install.model import addon_presets as catalog
from k8s_install.model import config
from test_bundle_servers import nginx

REPO_PRESETS = sorted(n for n, p in catalog.presets().items() if p.repo)
BUILTIN_PRESETS = sorted(n for n, p in catalog.presets().items() if not p.repo)
ENGINE = {"kube_proxy_strict_arp": True, "gateway_api_enabled": True}


def cluster_file(directory: Path, extra: dict[str, Any] | None = None) -> Path:
    releases: list[dict[str, Any]] = [{"preset": n} for n in sorted(catalog.presets())]
    for release in releases:
        if release["preset"] == "metallb-pool":
            release["values"] = {"addresses": ["192.0.2.240/28"]}
    data = {
        "name": "lab",
        "kubernetes": {"version": "1.35.4"},
        "nodes": [
            {"name": "cp1", "address": "192.0.2.11", "roles": ["control-plane", "etcd", "worker"]}
        ],
        "kubespray": ENGINE,
        "addons": {"globals": {"ingress_domain": "apps.lab.example"}, "releases": releases},
        **(extra or {}),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def build_args(plan: Path, out: Path, key: Path, cache: Path, mirrors: dict[str, str]) -> list[str]:
    args = ["bundle", "build", "--plan", str(plan), "-o", str(out), "--key", str(key)]
    args += ["--cache-dir", str(cache), "--no-wheels", "--json"]
    for upstream, loopback in mirrors.items():
        args += ["--mirror", f"{upstream}={loopback}"]
    return args


def test_every_preset_chart_resolves_through_its_index_and_the_bundle_serves_render(
    chart_repo: ChartRepo,
    helm_binary: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = cluster_file(tmp_path / "repo")
    specs, notes = charts.for_cluster(config.load(path), chart_repo.mirrors)
    assert notes == [
        f"{name}: builtin chart builtin://{name} ships with k8s-install" for name in BUILTIN_PRESETS
    ]
    assert sorted(s.name for s in specs) == sorted(catalog.get(n).chart for n in REPO_PRESETS)
    for spec in specs:
        preset = next(p for p in catalog.presets().values() if p.chart == spec.name)
        entry = chart_repo.entry(spec.name, spec.version)
        archive = chart_repo.archive(spec.name, spec.version)
        assert spec.sha256 == entry["digest"] == hashlib.sha256(archive.read_bytes()).hexdigest()
        assert spec.url == f"{preset.repo.rstrip('/')}/{archive.name}"  # the upstream URL

    # bundle build, with --mirror: the bytes come from loopback and must have the index digest.
    plan = planner.Plan(name="lab", kubernetes_version="1.35.4", engine_release="v2.31.0")
    plan.charts = specs
    plan_file = tmp_path / "plan.yaml"
    planner.save(plan, plan_file)
    sign.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    bundle = tmp_path / "bundle"
    built = run(
        *build_args(plan_file, bundle, tmp_path / "k.key", tmp_path / "cache", chart_repo.mirrors)
    )
    assert built.exit_code == 0, built.output
    manifest = mf.load(bundle)
    items = {i.name: i for i in manifest.items if i.kind == "chart"}
    assert sorted(items) == sorted(s.name for s in specs)
    for spec in specs:
        assert items[spec.name].sha256 == spec.sha256
        assert (bundle / spec.path).read_bytes() == chart_repo.archive(
            spec.name, spec.version
        ).read_bytes()

    # An offline cluster renders from the bundle's charts/, nothing else.
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    monkeypatch.setenv("K8S_INSTALL_CACHE", str(tmp_path / "helm-cache"))
    monkeypatch.delenv("K8S_INSTALL_CHARTS", raising=False)
    offline = {"offline": {"enabled": True, "bundle": str(bundle), "repo_host": "cp1"}}
    small = cluster_file(tmp_path / "offline", offline)
    data = yaml.safe_load(small.read_text())
    data["addons"]["releases"] = [{"preset": "metrics-server"}, {"preset": "sealed-secrets"}]
    small.write_text(yaml.safe_dump(data))
    result = run("addons", "render", "-c", str(small), "--json")
    assert result.exit_code == 0, result.output
    used = {r["name"]: r["chart"] for r in json.loads(result.stdout)["releases"]}
    assert used == {
        "metrics-server": str(bundle / "charts" / "metrics-server-3.13.0.tgz"),
        "sealed-secrets": str(bundle / "charts" / "sealed-secrets-2.18.5.tgz"),
    }
    assert not (small.parent / ".k8s-install" / "charts").exists()  # nothing was pulled


def test_a_chart_whose_bytes_differ_from_the_index_digest_is_refused(
    chart_repo: ChartRepo, tmp_path: Path
) -> None:
    """A mirror serving other bytes than the index's digest: nothing enters the bundle."""
    upstream = catalog.get("metallb").repo
    www = tmp_path / "www"
    copy = www / repo_path(upstream)
    shutil.copytree(chart_repo.root / repo_path(upstream), copy)
    archive = copy / "metallb-0.15.2.tgz"
    archive.write_bytes(chart_repo.archive("sealed-secrets", "2.18.5").read_bytes())  # swapped
    path = cluster_file(tmp_path / "repo")
    sign.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    with nginx(www, tmp_path / "nginx") as (url, _log):
        mirrors = {upstream: f"{url}/{repo_path(upstream)}"}
        spec = charts.resolve(upstream, "metallb", "0.15.2", mirrors)
        assert spec.sha256 == chart_repo.entry("metallb", "0.15.2")["digest"]
        plan = planner.Plan(name="lab", kubernetes_version="1.35.4", engine_release="v2.31.0")
        plan.charts = [spec]
        planner.save(plan, tmp_path / "plan.yaml")
        out = tmp_path / "bundle.tar"
        result = run(
            *build_args(tmp_path / "plan.yaml", out, tmp_path / "k.key", tmp_path / "c", mirrors)
        )
    assert result.exit_code == 1, result.output
    assert f"sha256 is {hashlib.sha256(archive.read_bytes()).hexdigest()}" in result.output
    assert spec.sha256 in result.output
    assert list(tmp_path.glob("bundle.tar*")) == []
    assert not list((tmp_path / "c").rglob("*.tgz")) and not list((tmp_path / "c").rglob("*.part"))
    assert path.is_file()
