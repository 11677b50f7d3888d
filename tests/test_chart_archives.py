"""Hostile chart archives and directories are refused (exit 2, the member named) before helm reads
them or any host is touched: by validate, addons render, addons apply's packaging and bundle build.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from k8s_install.addons import apply as addons_apply
from k8s_install.addons import chart_files
from k8s_install.base.errors import InvalidInput
from k8s_install.bundle import build, sign
from k8s_install.bundle.charts import ChartSpec
from k8s_install.bundle.download_list import Plan
from k8s_install.bundle.verify import sha256_file
from k8s_install.cli import cli
from k8s_install.model import config
from test_bundle_servers import need_servers, nginx

CHART_YAML = b"apiVersion: v2\nname: shop\nversion: 1.0.0\n"
TEMPLATE = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\n"


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


def write_archive(path: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    members = [
        _file("shop/Chart.yaml", CHART_YAML),
        _file("shop/templates/cm.yaml", TEMPLATE),
        *extra,
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


HOSTILE: dict[str, tuple[list[tuple[tarfile.TarInfo, bytes | None]], str]] = {
    "dot-dot": ([_file("shop/../../escaped.txt", b"x")], "shop/../../escaped.txt"),
    "dot-dot-inside": ([_file("shop/templates/../../x", b"x")], "shop/templates/../../x"),
    "absolute": ([_file("/tmp/k8s-install-escaped.txt", b"x")], "/tmp/k8s-install-escaped.txt"),
    "symlink-out": (
        [_link("shop/templates/passwd", "../../../etc/passwd")],
        "shop/templates/passwd",
    ),
    "symlink-absolute": ([_link("shop/templates/hosts", "/etc/hosts")], "shop/templates/hosts"),
    "hardlink-out": (
        [_link("shop/templates/h", "../outside", tarfile.LNKTYPE)],
        "shop/templates/h",
    ),
    "fifo": ([_special("shop/templates/pipe", tarfile.FIFOTYPE)], "shop/templates/pipe"),
    "device": ([_special("shop/templates/dev", tarfile.CHRTYPE)], "shop/templates/dev"),
}


def test_a_sound_archive_and_links_inside_it_pass(tmp_path: Path) -> None:
    good = write_archive(
        tmp_path / "shop-1.0.0.tgz", [_link("shop/templates/again.yaml", "cm.yaml")]
    )
    chart_files.check(good)
    loaded = chart_files.load(good)
    assert loaded.meta["name"] == "shop" and loaded.schema is None


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_are_refused_by_name(tmp_path: Path, case: str) -> None:
    extra, member = HOSTILE[case]
    archive = write_archive(tmp_path / "shop-1.0.0.tgz", extra)
    with pytest.raises(chart_files.UnsafeChart) as caught:
        chart_files.check(archive)
    assert caught.value.member == member
    assert caught.value.code == 2 and str(archive) in str(caught.value)


def test_a_directory_with_a_link_out_of_it_is_refused(tmp_path: Path) -> None:
    chart = tmp_path / "shop"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_bytes(CHART_YAML)
    (chart / "templates" / "ok.yaml").symlink_to("../Chart.yaml")  # inside: fine
    chart_files.check(chart)
    (chart / "templates" / "secret.yaml").symlink_to("/etc/hostname")
    with pytest.raises(chart_files.UnsafeChart, match=r"templates/secret\.yaml"):
        chart_files.check(chart)


def cluster(tmp_path: Path, release: dict[str, Any]) -> Path:
    data = {
        "name": "lab",
        "kubernetes": {"version": "1.35.4"},
        "nodes": [{"name": "cp1", "address": "192.0.2.11", "roles": ["control-plane", "etcd"]}],
        "addons": {"releases": [release]},
    }
    path = tmp_path / "repo" / "cluster.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


REPO_RELEASE = {
    "name": "shop",
    "chart": "shop",
    "repo": "https://charts.example",
    "version": "1.0.0",
}


@pytest.fixture
def no_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 'helm' that records being run: a refused chart must never reach it."""
    marker = tmp_path / "helm-ran"
    fake = tmp_path / "bin" / "helm"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("K8S_INSTALL_HELM", str(fake))
    monkeypatch.setenv("K8S_INSTALL_CACHE", str(tmp_path / "cache"))
    return marker


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_validate_and_render_refuse_a_hostile_archive_before_helm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_helm: Path, case: str
) -> None:
    extra, member = HOSTILE[case]
    charts = tmp_path / "charts"
    write_archive(charts / "shop-1.0.0.tgz", extra)
    monkeypatch.setenv("K8S_INSTALL_CHARTS", str(charts))
    path = cluster(tmp_path, REPO_RELEASE)
    checked = run("validate", "-c", str(path), "--json")
    assert checked.exit_code == 2, checked.output
    problems = json.loads(checked.stdout)["problems"]
    assert [p["path"] for p in problems] == ["addons.releases[0].chart"]
    assert member in problems[0]["message"]
    rendered = run("addons", "render", "-c", str(path))
    assert rendered.exit_code == 2, rendered.output
    assert member in rendered.output and "release 'shop'" in rendered.output
    assert not (path.parent / "rendered").exists()
    assert not no_helm.exists()  # helm never saw the archive
    assert (
        not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()
    )


def test_a_local_chart_linking_out_is_refused(
    tmp_path: Path, no_helm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = cluster(tmp_path, {"name": "shop", "chart": "./charts/shop"})
    chart = path.parent / "charts" / "shop"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_bytes(CHART_YAML)
    os.symlink("/etc/hostname", chart / "templates" / "host.yaml")
    result = run("addons", "render", "-c", str(path))
    assert result.exit_code == 2 and "templates/host.yaml" in result.output
    assert not no_helm.exists()


def test_apply_packaging_checks_an_archive_again(tmp_path: Path, no_helm: Path) -> None:
    path = cluster(tmp_path, REPO_RELEASE)
    settings = addons_apply.settings(config.load(path))
    hostile = write_archive(tmp_path / "shop-1.0.0.tgz", HOSTILE["symlink-out"][0])
    with pytest.raises(InvalidInput, match="shop/templates/passwd"):
        addons_apply.archive(hostile, settings)
    good = write_archive(tmp_path / "good" / "shop-1.0.0.tgz", [])
    assert addons_apply.archive(good, settings) == good


def test_bundle_build_refuses_a_hostile_chart_whose_digest_matches(tmp_path: Path) -> None:
    need_servers()
    www = tmp_path / "www"
    hostile = write_archive(www / "charts.example" / "shop-1.0.0.tgz", HOSTILE["dot-dot"][0])
    sign.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    with nginx(www, tmp_path / "nginx") as (url, _log):
        spec = ChartSpec(
            "shop", "1.0.0", "https://charts.example/shop-1.0.0.tgz", sha256_file(hostile)[0]
        )
        plan = Plan(
            name="t",
            kubernetes_version="1.35.4",
            engine_release="v2.31.0",
            arch="amd64",
            engine=None,
            charts=[spec],
        )
        opts = build.Options(
            tmp_path / "out.tar",
            tmp_path / "k.key",
            tmp_path / "cache",
            {"https://charts.example": f"{url}/charts.example"},
            {},
            wheels=False,
        )
        with pytest.raises(chart_files.UnsafeChart, match=r"shop/\.\./\.\./escaped\.txt") as caught:
            build.build(plan, opts)
    assert caught.value.code == 2
    assert list(tmp_path.glob("out.tar*")) == []
