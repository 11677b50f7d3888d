"""Rendering with the real helm binary against the fixture charts: values, manifests, images,
determinism, pruning of rendered directories, Argo CD, the preset catalog and its plan. The
presets with their real upstream charts: tests/test_addons_presets.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from k8s_install.addons import images, render
from k8s_install.addons import order as graph
from k8s_install.base import output_schemas as jsonout
from k8s_install.cli import cli
from k8s_install.model import addon_presets as catalog
from k8s_install.model import config
from k8s_install.records import applied_file as state

CHARTS = Path(__file__).parent / "fixtures" / "charts"


@pytest.fixture
def env(helm_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    monkeypatch.setenv("K8S_INSTALL_CACHE", str(tmp_path / "cache"))


ENGINE = {"kube_proxy_strict_arp": True, "gateway_api_enabled": True}


def make_repo(
    directory: Path, addons: dict[str, Any], kubespray: dict[str, Any] | None = None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "name": "lab",
        "kubernetes": {"version": "1.35.4"},
        "nodes": [
            {"name": "cp1", "address": "192.0.2.11", "roles": ["control-plane", "etcd", "worker"]}
        ],
        "addons": addons,
    }
    if kubespray:
        data["kubespray"] = kubespray
    path = directory / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    if not (directory / "charts").exists():
        shutil.copytree(CHARTS, directory / "charts")
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def tree(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


FIXTURE_ADDONS: dict[str, Any] = {
    "globals": {"registry": "mirror.example:5000", "pool": {"node.example.com/pool": "infra"}},
    "releases": [
        {
            "name": "web",
            "chart": "./charts/web",
            "version": "1.2.0",
            "namespace": "apps",
            "values": {
                "image": {"registry": "${globals.registry}"},
                "nodeSelector": "${globals.pool}",
                "greeting": "served from ${globals.registry}",
            },
        },
        {
            "name": "stack",
            "chart": "./charts/stack",
            "depends_on": ["web"],
            "values": {"registry": "${globals.registry}"},
        },
    ],
}


def test_fixture_charts_render_resolved_values_and_canonical_manifests(
    env: None, tmp_path: Path
) -> None:
    path = make_repo(tmp_path / "repo", FIXTURE_ADDONS)
    result = run("addons", "render", "-c", str(path), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert jsonout.errors("addons render", report) == []
    assert [(r["name"], r["wave"]) for r in report["releases"]] == [("web", 1), ("stack", 2)]
    web = path.parent / "rendered" / "addons" / "web"
    values = yaml.safe_load((web / "values.yaml").read_text())
    assert values["image"] == {"registry": "mirror.example:5000"}
    assert values["nodeSelector"] == {"node.example.com/pool": "infra"}  # the type is kept
    assert values["greeting"] == "served from mirror.example:5000"
    docs = list(yaml.safe_load_all((web / "manifest.yaml").read_text()))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["Secret", "ConfigMap", "Service", "Deployment"]  # helm's install order
    secret = docs[0]
    assert set(secret["data"]) == {"password", "session-key"}
    assert all("redacted" in v for v in secret["data"].values())
    assert "Y2hhbmdlbWU" not in (web / "manifest.yaml").read_text()  # b64 of the password
    deployment = docs[3]
    spec = deployment["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"node.example.com/pool": "infra"}
    info = yaml.safe_load((path.parent / "rendered/addons/stack/release.yaml").read_text())
    assert info["depends_on"] == ["web"] and info["wave"] == 2


def test_images_cover_containers_init_containers_cronjobs_subcharts_and_custom_resources(
    env: None, tmp_path: Path
) -> None:
    path = make_repo(tmp_path / "repo", FIXTURE_ADDONS)
    assert run("addons", "render", "-c", str(path)).exit_code == 0
    expected = [
        "docker.io/library/busybox:1.37.0",  # init container
        "docker.io/library/redis:7.4.2",  # subchart StatefulSet
        "mirror.example:5000/example/backup:3.1.0",  # CronJob job template
        "mirror.example:5000/library/nginx:1.27.3",  # container, registry from globals
        "quay.io/prometheus/prometheus:v3.5.0",  # Prometheus custom resource spec.image
    ]
    assert images.list_images(path.parent) == expected
    result = run("addons", "images", "-c", str(path), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert jsonout.errors("addons images", report) == []
    assert report["images"] == expected
    assert report["by_release"]["stack"] == expected[1:3] + expected[4:]


def test_rendering_is_deterministic(env: None, tmp_path: Path) -> None:
    first = make_repo(tmp_path / "one", FIXTURE_ADDONS)
    second = make_repo(tmp_path / "two", FIXTURE_ADDONS)
    assert run("addons", "render", "-c", str(first)).exit_code == 0
    before = tree(first.parent / "rendered")
    again = run("addons", "render", "-c", str(first), "--json")
    assert [r["changed"] for r in json.loads(again.stdout)["releases"]] == [False, False]
    assert tree(first.parent / "rendered") == before
    assert run("addons", "render", "-c", str(second)).exit_code == 0
    assert tree(second.parent / "rendered") == before  # a fresh repo: the same bytes


def test_a_disabled_release_loses_its_rendered_directory(env: None, tmp_path: Path) -> None:
    path = make_repo(tmp_path / "repo", FIXTURE_ADDONS)
    assert run("addons", "render", "-c", str(path)).exit_code == 0
    addons = json.loads(json.dumps(FIXTURE_ADDONS))
    addons["releases"][1]["enabled"] = False
    make_repo(path.parent, addons)
    result = run("addons", "render", "-c", str(path), "--json")
    assert json.loads(result.stdout)["removed"] == ["stack"]
    assert not (path.parent / "rendered/addons/stack").exists()
    assert (path.parent / "rendered/addons/web/manifest.yaml").is_file()


def test_a_local_chart_with_another_version_is_refused(env: None, tmp_path: Path) -> None:
    addons = {"releases": [{"name": "web", "chart": "./charts/web", "version": "9.9.9"}]}
    path = make_repo(tmp_path / "repo", addons)
    result = run("addons", "render", "-c", str(path))
    assert result.exit_code == 2
    assert "addons.releases[0].version" in result.output
    assert "1.2.0" in result.output
    assert not (path.parent / "rendered").exists()


def test_a_failing_template_names_the_release_and_writes_nothing(env: None, tmp_path: Path) -> None:
    addons = {
        "releases": [
            {"name": "ok", "chart": "./charts/stack"},
            {"name": "web", "chart": "./charts/web", "values": {"greeting": None}},
        ]
    }
    path = make_repo(tmp_path / "repo", addons)
    result = run("addons", "render", "-c", str(path))
    assert result.exit_code == 1
    assert "addons.releases[1]" in result.output and "greeting is required" in result.output
    assert not (path.parent / "rendered").exists()


def test_an_unreachable_chart_repository_says_how_to_work_offline(
    env: None, tmp_path: Path
) -> None:
    addons = {
        "releases": [
            {"name": "x", "chart": "x", "repo": "http://127.0.0.1:9/charts", "version": "1.0.0"}
        ]
    }
    path = make_repo(tmp_path / "repo", addons)
    result = run("addons", "render", "-c", str(path))
    assert result.exit_code == 1
    assert "cannot fetch chart http://127.0.0.1:9/charts/x 1.0.0" in result.output
    assert "--charts-dir" in result.output


def test_argocd_applications_follow_the_waves(env: None, tmp_path: Path) -> None:
    path = make_repo(tmp_path / "repo", FIXTURE_ADDONS)
    no_url = run("addons", "render", "-c", str(path), "--argocd")
    assert no_url.exit_code == 2 and "--repo-url" in no_url.output
    subprocess.run(["git", "init", "-q", str(path.parent)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(path.parent),
            "remote",
            "add",
            "origin",
            "https://git.example/ops/lab.git",
        ],
        check=True,
    )
    assert run("addons", "render", "-c", str(path), "--argocd").exit_code == 0
    apps = path.parent / "rendered/addons/argocd/apps"
    stack = yaml.safe_load((apps / "stack.yaml").read_text())
    assert stack["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "2"
    assert stack["spec"]["source"] == {
        "repoURL": "https://git.example/ops/lab.git",
        "targetRevision": "HEAD",
        "path": "rendered/addons/stack",
        "directory": {"include": "manifest.yaml"},
    }
    assert stack["spec"]["destination"]["namespace"] == "stack"
    root = yaml.safe_load((path.parent / "rendered/addons/argocd/root.yaml").read_text())
    assert root["spec"]["source"]["path"] == "rendered/addons/argocd/apps"


# The presets with their real charts: tests/test_addons_presets.py. Here, the catalog and the plan.

GLOBALS: dict[str, Any] = {
    "registry": "registry.lab.example:5000",
    "ingress_domain": "apps.example",
}
PRESETS = sorted(catalog.presets())


def test_disabling_a_preset_shows_its_removal_in_the_plan(env: None, tmp_path: Path) -> None:
    releases: list[dict[str, Any]] = [{"preset": name} for name in PRESETS]
    releases[PRESETS.index("metallb-pool")]["values"] = {"addresses": ["192.0.2.240/28"]}
    addons = {"globals": GLOBALS, "releases": releases}
    path = make_repo(tmp_path / "repo", addons, ENGINE)
    state.write_applied(config.load(path))  # as after a successful apply
    addons["releases"][PRESETS.index("fluent-bit")]["enabled"] = False
    make_repo(path.parent, addons, ENGINE)
    changes = graph.plan(path.parent, config.load(path).section("addons"))
    assert changes[0].as_dict() == {
        "action": "remove",
        "name": "fluent-bit",
        "namespace": "logging",
        "reason": "disabled (enabled: false)",
        "wave": None,
    }
    assert {c.action for c in changes[1:]} == {"unchanged"}
    listed = run("addons", "list", "-c", str(path), "--json")
    assert jsonout.errors("addons list", json.loads(listed.stdout)) == []
    rows = {r["name"]: r for r in json.loads(listed.stdout)["releases"]}
    assert rows["fluent-bit"]["enabled"] is False and rows["fluent-bit"]["wave"] is None
    assert rows["ingress-nginx"]["after"] == ["cert-manager", "metallb", "metallb-pool"]
    assert rows["traefik"]["after"] == ["metallb", "metallb-pool", "sealed"]
    assert rows["kube-prometheus-stack"]["wave"] == 4


def test_catalog_listing(tmp_path: Path) -> None:
    result = run("addons", "list", "--catalog", "--json")
    assert result.exit_code == 0
    assert jsonout.errors("addons list", json.loads(result.stdout)) == []
    presets = {p["name"]: p for p in json.loads(result.stdout)["presets"]}
    assert sorted(presets) == PRESETS
    assert presets["ingress-nginx"]["depends_on"] == ["metallb", "metallb-pool", "cert-manager"]
    assert "retired upstream in March 2026" in presets["ingress-nginx"]["deprecated"]
    assert presets["traefik"]["deprecated"] == ""
    assert presets["metallb-pool"]["chart"] == "builtin://metallb-pool"


def test_chart_archives_for_the_bundle(env: None, tmp_path: Path) -> None:
    from k8s_install.addons import apply as addons_apply

    charts = tmp_path / "charts"
    for name in ("metrics-server-3.13.0", "metallb-0.15.2"):  # repo charts' archives, by name
        work = tmp_path / name
        subprocess.run(
            [os.environ["K8S_INSTALL_HELM"], "package", str(CHARTS / "web"), "-d", str(work)],
            check=True,
            capture_output=True,
        )
        charts.mkdir(exist_ok=True)
        (work / "web-1.2.0.tgz").rename(charts / f"{name}.tgz")
    releases = [
        {"preset": "metrics-server"},
        {"name": "web", "chart": "./charts/web"},
        {"preset": "metallb"},
        {"preset": "metallb-pool", "values": {"addresses": ["192.0.2.240/28"]}},
    ]
    path = make_repo(tmp_path / "repo", {"releases": releases}, ENGINE)
    cluster = config.load(path)
    settings = addons_apply.settings(cluster, (charts,))
    found = render.chart_archives(cluster.section("addons"), settings)
    # Local and builtin charts are not bundled: the cluster repo and k8s-install carry them.
    assert found == {
        "metrics-server": charts / "metrics-server-3.13.0.tgz",
        "metallb": charts / "metallb-0.15.2.tgz",
    }
