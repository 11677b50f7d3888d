"""Build from real loopback servers (nginx, docker-registry), verify, tamper, verify fails.

No network: the plan names upstream-style URLs and the mirror maps send them to loopback.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.base.errors import K8sInstallError
from k8s_install.bundle import build, charts, oci, sign
from k8s_install.bundle import download_list as planner
from k8s_install.bundle import manifest as mf
from k8s_install.bundle.sources import Download, DownloadError, Fetcher
from k8s_install.cli import cli
from k8s_install.model import config
from test_bundle_servers import (
    UPSTREAM_CHARTS,
    Sources,
    build_sources,
    need_servers,
    nginx,
    registry,
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sources]:
    need_servers()
    work = tmp_path_factory.mktemp("servers")
    www = work / "www"
    www.mkdir()
    with nginx(www, work / "nginx") as (url, log), registry(work / "registry") as reg:
        yield build_sources(www, reg, url, log)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("keys")
    sign.keygen(work / "k.key", work / "k.pub")
    return work / "k.key", work / "k.pub"


def _build_args(servers: Sources, plan_file: Path, out: Path, key: Path, cache: Path) -> list[str]:
    args = [
        "bundle",
        "build",
        "--plan",
        str(plan_file),
        "-o",
        str(out),
        "--key",
        str(key),
        "--cache-dir",
        str(cache),
        "--no-wheels",
        "--json",
    ]
    for prefix, url in servers.mirrors.items():
        args += ["--mirror", f"{prefix}={url}"]
    for reg, url in servers.registry_mirrors.items():
        args += ["--registry-mirror", f"{reg}={url}"]
    return args


def test_build_verify_tamper(servers: Sources, keys: tuple[Path, Path], tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.yaml"
    planner.save(servers.plan, plan_file)
    out = tmp_path / "bundle.tar"
    runner = CliRunner()
    result = runner.invoke(cli, _build_args(servers, plan_file, out, keys[0], tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"')]
    assert {e["event"] for e in events} == {"fetched"}
    summary = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert summary["items"] == 6  # engine, 2 binaries, chart, 2 images

    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert names[:2] == [mf.MANIFEST, mf.SIGNATURE]
    assert (
        "files/github.com/k8s-install/fixtures/releases/download/v1.0.0/test-binary-linux-amd64"
        in names
    )
    assert (
        "images/index.json" in names and "charts/test-chart-1.0.0.tgz" in names and mf.SBOM in names
    )

    ok = runner.invoke(cli, ["bundle", "verify", str(out), "--key", str(keys[1])])
    assert ok.exit_code == 0, ok.output

    unpacked = build.unpack(out, tmp_path / "unpacked")
    manifest = mf.load(unpacked)
    images = oci.images(unpacked / "images")
    assert sorted(images) == sorted(servers.plan.images)
    image_items = [i for i in manifest.items if i.kind == "image"]
    assert all(len(i.sha256) == 64 and i.size > 0 for i in image_items)
    sbom = json.loads((unpacked / mf.SBOM).read_text())
    assert len(sbom["packages"]) == 6

    target = (
        unpacked
        / "files/github.com/k8s-install/fixtures/releases/download/v1.0.0/test-runtime-linux-amd64"
    )
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    bad = runner.invoke(cli, ["bundle", "verify", str(unpacked), "--key", str(keys[1]), "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert report["flipped"] == [str(target.relative_to(unpacked))]
    assert report["missing"] == [] and report["extra"] == []

    info = runner.invoke(cli, ["bundle", "info", str(out), "--json"])
    assert info.exit_code == 0
    assert json.loads(info.stdout)["kinds"]["image"]["count"] == 2


def test_second_build_comes_from_the_cache(
    servers: Sources, keys: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    opts = build.Options(
        tmp_path / "a",
        keys[0],
        tmp_path / "cache",
        servers.mirrors,
        servers.registry_mirrors,
        wheels=False,
    )
    first = build.build(servers.plan, opts)
    assert first.downloaded_bytes > 0 and first.cached_bytes == 0
    opts.output = tmp_path / "b"
    second = build.build(servers.plan, opts)
    assert second.downloaded_bytes == 0
    assert second.cached_bytes >= first.downloaded_bytes - 10_000  # manifests are not cached
    assert {p: e.sha256 for p, e in first.manifest.files.items()} == {
        p: e.sha256 for p, e in second.manifest.files.items()
    }
    assert first.manifest.created == second.manifest.created == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("value", ["", "yesterday", "-1", "1.5", "9" * 12, "253402300800"])
def test_a_bad_source_date_epoch_fails_before_any_download(
    servers: Sources,
    keys: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    opts = build.Options(
        tmp_path / "a", keys[0], tmp_path / "cache", servers.mirrors, servers.registry_mirrors
    )
    log_before = servers.access_log.read_text() if servers.access_log.exists() else ""
    with pytest.raises(K8sInstallError, match="SOURCE_DATE_EPOCH") as err:
        build.build(servers.plan, opts)
    assert "Unix time" in str(err.value)
    log_after = servers.access_log.read_text() if servers.access_log.exists() else ""
    assert log_after == log_before
    assert not (tmp_path / "a").exists()


def test_download_resumes_with_a_range_request(servers: Sources, tmp_path: Path) -> None:
    spec = servers.plan.files[0]
    fetcher = Fetcher(tmp_path / "cache", servers.mirrors)
    source = servers.www / spec.url.removeprefix("https://")
    whole = source.read_bytes()
    part = fetcher.cached(spec.sha256).with_name(spec.sha256 + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[: len(whole) // 3])
    log_before = servers.access_log.read_text() if servers.access_log.exists() else ""
    path = fetcher.fetch(spec.url, spec.sha256)
    assert path.read_bytes() == whole
    assert fetcher.downloaded_bytes == len(whole) - len(whole) // 3
    new_lines = servers.access_log.read_text()[len(log_before) :]
    assert " 206 " in new_lines


def test_one_file_asked_for_twice_at_once_is_downloaded_once(
    servers: Sources, tmp_path: Path
) -> None:
    spec = servers.plan.files[0]
    fetcher = Fetcher(tmp_path / "cache", servers.mirrors, workers=8)
    whole = (servers.www / spec.url.removeprefix("https://")).read_bytes()
    wanted = [Download(spec.url, spec.sha256, tmp_path / "out" / str(n)) for n in range(8)]
    log_before = servers.access_log.read_text() if servers.access_log.exists() else ""
    paths = fetcher.fetch_all(wanted)
    assert all(p.read_bytes() == whole for p in paths)
    assert fetcher.downloaded_bytes == len(whole)
    assert fetcher.cached_bytes == 7 * len(whole)
    new_lines = servers.access_log.read_text()[len(log_before) :]
    assert new_lines.count(" 200 ") == 1


def test_a_source_serving_other_bytes_is_refused(servers: Sources, tmp_path: Path) -> None:
    spec = servers.plan.files[0]
    fetcher = Fetcher(tmp_path / "cache", servers.mirrors)
    with pytest.raises(DownloadError, match="sha256 is"):
        fetcher.fetch(spec.url, "0" * 64)
    assert not list((tmp_path / "cache").rglob("*.part")) and not list(
        (tmp_path / "cache").rglob("0" * 64)
    )


def test_missing_source_names_the_url(servers: Sources, tmp_path: Path) -> None:
    fetcher = Fetcher(tmp_path / "cache", servers.mirrors)
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetcher.fetch("https://github.com/k8s-install/fixtures/nope", "0" * 64)


def test_incremental_bundle_carries_only_changes(
    servers: Sources, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    opts = build.Options(
        tmp_path / "old",
        keys[0],
        tmp_path / "cache",
        servers.mirrors,
        servers.registry_mirrors,
        wheels=False,
    )
    old = build.build(servers.plan, opts)
    extra = build_sources(
        servers.www,
        servers.registry_url,
        servers.files_url,
        servers.access_log,
        version="2.0.0",
        images=1,
    )
    newer = planner.Plan(
        **{**servers.plan.as_dict(), "engine": servers.plan.engine, "charts": servers.plan.charts}
    )
    newer.files = [servers.plan.files[0], extra.plan.files[1]]  # one binary kept, one upgraded
    newer.images = [*servers.plan.images, *extra.plan.images]
    opts.output = tmp_path / "inc"
    opts.base = tmp_path / "old"
    inc = build.build(newer, opts)
    assert inc.manifest.base == {
        "name": old.manifest.name,
        "created": old.manifest.created,
        "manifest_sha256": old.manifest.digest,
    }
    carried = {p for p, e in inc.manifest.files.items() if not e.in_base}
    assert extra.plan.files[1].path in carried
    assert servers.plan.files[0].path not in carried
    assert not (tmp_path / "inc" / servers.plan.files[0].path).exists()
    assert inc.manifest.own_size < old.manifest.own_size

    runner = CliRunner()
    alone = runner.invoke(cli, ["bundle", "verify", str(tmp_path / "inc"), "--key", str(keys[1])])
    assert alone.exit_code == 0 and "left to the base" in alone.output
    with_base = runner.invoke(
        cli,
        [
            "bundle",
            "verify",
            str(tmp_path / "inc"),
            "--key",
            str(keys[1]),
            "--base",
            str(tmp_path / "old"),
            "--json",
        ],
    )
    assert with_base.exit_code == 0, with_base.output
    assert json.loads(with_base.stdout)["from_base"] == []

    changes = runner.invoke(
        cli, ["bundle", "diff", str(tmp_path / "old"), str(tmp_path / "inc"), "--json"]
    )
    result = json.loads(changes.stdout)
    # image0 now has two tags: v2.0.0 is an addition; the kept v1.0.0 is unchanged
    assert result["added"] == [
        {"kind": "image", "name": "registry.k8s.io/test/image0", "version": "v2.0.0"}
    ]
    assert any(
        c["name"] == "test-runtime" and c["new_version"] == "2.0.0" for c in result["changed"]
    )
    assert result["removed"] == []


def test_build_refuses_bad_input_before_downloading(
    servers: Sources, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    runner = CliRunner()
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(
        "files:\n  - name: x\n    url: https://example.test/x\n    sha256: nothex\n"
    )
    bad_plan = runner.invoke(
        cli,
        [
            "bundle",
            "build",
            "--plan",
            str(plan_file),
            "-o",
            str(tmp_path / "o"),
            "--key",
            str(keys[0]),
        ],
    )
    assert bad_plan.exit_code == 2 and "files[0]" in bad_plan.output
    planner.save(servers.plan, plan_file)
    bad_key = runner.invoke(
        cli,
        [
            "bundle",
            "build",
            "--plan",
            str(plan_file),
            "-o",
            str(tmp_path / "o"),
            "--key",
            str(keys[1]),
        ],
    )
    assert bad_key.exit_code == 2 and "not an ed25519 private key" in bad_key.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_a_failed_build_leaves_no_partial_bundle(
    servers: Sources, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    broken = planner.Plan(**{**servers.plan.as_dict(), "engine": servers.plan.engine})
    broken.files = [planner.FileSpec("gone", "1", "https://github.com/k8s-install/none", "0" * 64)]
    broken.charts = []
    opts = build.Options(
        tmp_path / "out.tar", keys[0], tmp_path / "cache", servers.mirrors, {}, wheels=False
    )
    with pytest.raises(DownloadError, match="HTTP 404"):
        build.build(broken, opts)
    assert list(tmp_path.glob("out.tar*")) == []


def test_addon_charts_come_from_the_repository_index(servers: Sources, sample_copy: Path) -> None:
    spec = servers.plan.charts[0]
    resolved = charts.resolve(UPSTREAM_CHARTS, "test-chart", "1.0.0", servers.mirrors)
    assert resolved == spec  # url joined from the index, sha256 = the index digest
    with pytest.raises(K8sInstallError, match=r"no chart test-chart version 9\.9\.9"):
        charts.resolve(UPSTREAM_CHARTS, "test-chart", "9.9.9", servers.mirrors)
    data = yaml.safe_load(sample_copy.read_text())
    data["addons"] = {
        "releases": [
            {
                "name": "t",
                "chart": "test-chart",
                "repo": UPSTREAM_CHARTS,
                "version": "1.0.0",
                "namespace": "t",
            },
        ]
    }
    sample_copy.write_text(yaml.safe_dump(data))
    found, notes = charts.for_cluster(config.load(sample_copy), servers.mirrors)
    assert found == [spec] and notes == []
