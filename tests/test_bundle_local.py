"""Bring your own builds: `bundle build --local-files DIR --local-images LAYOUT`.

Most tests need no server at all: every planned file and image comes from local sources, so the
plan's upstream sha256 are made up and never checked. One test mixes local builds with
downloads and pulls from the loopback servers of test_bundle_servers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from artifacts import addon_images, recipes
from click.testing import CliRunner

from k8s_install.base.errors import K8sInstallError
from k8s_install.bundle import build, oci, sign
from k8s_install.bundle import download_list as planner
from k8s_install.bundle import manifest as mf
from k8s_install.bundle import verify as verifier
from k8s_install.bundle.download_list import FileSpec, Plan
from k8s_install.bundle.verify import sha256_file
from k8s_install.cli import cli
from test_bundle_servers import Sources, build_sources, need_servers, nginx, registry

KUBELET_URL = "https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubelet"
ETCD_URL = (
    "https://github.com/etcd-io/etcd/releases/download/v3.6.10/etcd-v3.6.10-linux-amd64.tar.gz"
)
PAUSE = "registry.k8s.io/pause:3.10.1"
SMOKE = "docker.io/k8s-install/smoke:1.0"  # in no engine list: only a local layout brings it
UPSTREAM = {"kubelet": "a" * 64, "etcd": "b" * 64}  # made up: a local build replaces both


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    sign.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    return tmp_path / "k.key", tmp_path / "k.pub"


def _local_tree(root: Path) -> Path:
    """DIR/<host>/<url path>, as `scripts/artifacts/build.py` lays out its results."""
    for url, data in ((KUBELET_URL, b"our kubelet\n" * 500), (ETCD_URL, b"our etcd tarball\n")):
        path = root / url.removeprefix("https://")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _local_layout(root: Path) -> Path:
    oci.write_image(root, PAUSE, {"pause": b"our pause\n" * 100})
    oci.write_image(root, SMOKE, {"smoke": b"our smoke test\n" * 100})
    return root


def _plan() -> Plan:
    return Plan(
        name="byob",
        kubernetes_version="1.35.4",
        engine_release="v2.31.0",
        files=[
            FileSpec("kubelet", "1.35.4", KUBELET_URL, UPSTREAM["kubelet"]),
            FileSpec("etcd", "3.6.10", ETCD_URL, UPSTREAM["etcd"]),
        ],
        images=[PAUSE],
    )


def _build_args(plan_file: Path, out: Path, key: Path, tmp_path: Path) -> list[str]:
    return [
        "bundle",
        "build",
        "--plan",
        str(plan_file),
        "-o",
        str(out),
        "--key",
        str(key),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-wheels",
        "--local-files",
        str(_local_tree(tmp_path / "own-files")),
        "--local-images",
        str(_local_layout(tmp_path / "own-images")),
        "--json",
    ]


@pytest.mark.parametrize("suffix", ["", ".tar"])
def test_a_bundle_of_local_builds_records_them_and_verifies(
    suffix: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.yaml"
    planner.save(_plan(), plan_file)
    out = tmp_path / f"bundle{suffix}"
    runner = CliRunner()
    result = runner.invoke(cli, _build_args(plan_file, out, keys[0], tmp_path))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["local"] == [
        "file:etcd",
        "file:kubelet",
        "image:docker.io/k8s-install/smoke",
        "image:registry.k8s.io/pause",
    ]
    assert summary["downloaded_bytes"] == 0

    ok = runner.invoke(cli, ["bundle", "verify", str(out), "--key", str(keys[1])])
    assert ok.exit_code == 0, ok.output

    unpacked = out if out.is_dir() else build.unpack(out, tmp_path / "unpacked")
    manifest = mf.load(unpacked)
    items = manifest.item_map()
    kubelet = items["file:kubelet"]
    in_bundle = unpacked / "files/dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubelet"
    assert kubelet.sha256 == sha256_file(in_bundle)[0] == manifest.files[kubelet.paths[0]].sha256
    assert kubelet.source == f"local:{(tmp_path / 'own-files').resolve()}"
    assert (kubelet.upstream_url, kubelet.upstream_sha256) == (KUBELET_URL, UPSTREAM["kubelet"])
    assert sorted(oci.images(unpacked / "images")) == sorted([PAUSE, SMOKE])
    smoke = items["image:docker.io/k8s-install/smoke"]
    assert smoke.is_local and smoke.upstream_sha256 == "" and smoke.version == "1.0"

    sbom = {p["name"]: p for p in json.loads((unpacked / mf.SBOM).read_text())["packages"]}
    assert sbom["kubelet"]["downloadLocation"] == "NOASSERTION"
    assert f"replaces {KUBELET_URL} (upstream sha256 {'a' * 64})" in sbom["kubelet"]["sourceInfo"]

    info = runner.invoke(cli, ["bundle", "info", str(out)])
    assert info.exit_code == 0 and "local, replaces" in info.output and "a" * 12 in info.output


def _artifacts_layout(root: Path, tmp_path: Path) -> Path:
    """The layout build.py writes: pause and smoke here, and the addon images of stand-in
    binaries and a stand-in busybox tree, through addon_images.build_images."""
    _local_layout(root)
    bins = {}
    for recipe in recipes.ADDONS:
        folder = tmp_path / "addon-bins" / recipe.name
        folder.mkdir(parents=True)
        for binary in recipe.binaries:
            (folder / binary.name).write_bytes(f"our {binary.name}\n".encode() * 100)
        bins[recipe.name] = folder
    busybox = tmp_path / "busybox"
    (busybox / "bin").mkdir(parents=True)
    (busybox / "bin/busybox").write_bytes(b"our busybox\n")
    (busybox / "applets").write_text("sh\nmkdir\nrm\n")
    (busybox / "copyright").write_text("GPL-2\n")
    addon_images.build_images(root, bins, tmp_path / "c", busybox_root=busybox)
    return root


def test_the_addon_images_of_the_artifacts_layout_replace_the_planned_ones(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """The plan lists the addons' upstream images (as `bundle plan` renders them); the layout
    of build.py brings every one, and the bundle carries them as local builds."""
    layout = _artifacts_layout(tmp_path / "layout", tmp_path)
    addons = addon_images.names()
    plan = replace(_plan(), files=[], images=[PAUSE, *addons])
    opts = build.Options(
        tmp_path / "bundle", keys[0], tmp_path / "c", {}, {}, wheels=False, local_images=(layout,)
    )
    result = build.build(plan, opts)
    carried = oci.images(tmp_path / "bundle" / "images")
    assert sorted(carried) == sorted([PAUSE, SMOKE, *addons])
    built = oci.images(layout)
    for name in addons:
        assert carried[name]["digest"] == built[name]["digest"], name
        ref = oci.parse_ref(name)
        item = result.manifest.item_map()[f"image:{ref.registry}/{ref.repository}"]
        assert item.is_local and item.version == ref.tag
    assert verifier.verify(tmp_path / "bundle", keys[1]).ok


def test_a_flipped_byte_in_a_local_file_is_named_by_verify(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    opts = build.Options(
        out,
        keys[0],
        tmp_path / "cache",
        {},
        {},
        wheels=False,
        local_files=(_local_tree(tmp_path / "own"),),
        local_images=(_local_layout(tmp_path / "layout"),),
    )
    build.build(_plan(), opts)
    target = out / "files" / ETCD_URL.removeprefix("https://")
    data = bytearray(target.read_bytes())
    data[3] ^= 0x01
    target.write_bytes(bytes(data))
    report = verifier.verify(out, keys[1])
    assert not report.ok
    assert report.flipped == [str(target.relative_to(out))]
    bad = CliRunner().invoke(cli, ["bundle", "verify", str(out), "--key", str(keys[1])])
    assert bad.exit_code == 1 and "etcd-v3.6.10-linux-amd64.tar.gz" in bad.output


def _in_two_dirs(tmp_path: Path, opts: build.Options) -> build.Options:
    return replace(opts, local_files=(*opts.local_files, _local_tree(tmp_path / "again")))


def _no_index(tmp_path: Path, opts: build.Options) -> build.Options:
    (tmp_path / "empty").mkdir()
    return replace(opts, local_images=(tmp_path / "empty",))


def _damaged_blob(tmp_path: Path, opts: build.Options) -> build.Options:
    layout = opts.local_images[0]
    entry = oci.images(layout)[PAUSE]
    layer = json.loads(oci.blob_path(layout, entry["digest"]).read_bytes())["layers"][0]
    oci.blob_path(layout, layer["digest"]).write_bytes(b"not the layer")
    return opts


def _two_digests(tmp_path: Path, opts: build.Options) -> build.Options:
    other = tmp_path / "other-layout"
    oci.write_image(other, PAUSE, {"pause": b"another pause\n"})
    return replace(opts, local_images=(*opts.local_images, other))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_in_two_dirs, "is in more than one --local-files directory"),
        (_no_index, "not an OCI image layout"),
        (_damaged_blob, "does not match its digest"),
        (_two_digests, "with different digests"),
    ],
)
def test_bad_local_sources_are_refused_and_leave_no_bundle(
    change: object, message: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    opts = build.Options(
        tmp_path / "bundle",
        keys[0],
        tmp_path / "cache",
        {},
        {},
        wheels=False,
        local_files=(_local_tree(tmp_path / "own"),),
        local_images=(_local_layout(tmp_path / "layout"),),
    )
    opts = change(tmp_path, opts)  # type: ignore[operator]
    with pytest.raises(K8sInstallError, match=message) as caught:
        build.build(_plan(), opts)
    assert caught.value.code == 2
    assert not (tmp_path / "bundle").exists()


def test_a_multi_arch_local_image_is_taken_for_the_plan_arch(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    entries = {}
    for arch in ("arm64", "amd64"):
        entries[arch] = oci.write_image(layout, f"x/{arch}:1", {"f": arch.encode()}, arch=arch)
    index = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_INDEX,
        "manifests": [
            {**e, "annotations": {}, "platform": {"os": "linux", "architecture": a}}
            for a, e in entries.items()
        ],
    }
    digest = oci.write_blob(layout, json.dumps(index).encode())
    oci.write_index(
        layout,
        [
            {
                "mediaType": oci.OCI_INDEX,
                "digest": digest,
                "size": len(json.dumps(index).encode()),
                "annotations": {oci.REF_NAME: PAUSE},
            }
        ],
    )
    plan = replace(_plan(), files=[])
    opts = build.Options(
        tmp_path / "bundle", keys[0], tmp_path / "c", {}, {}, wheels=False, local_images=(layout,)
    )
    build.build(plan, opts)
    copied = oci.images(tmp_path / "bundle" / "images")
    assert list(copied) == [PAUSE]
    assert copied[PAUSE]["digest"] == entries["amd64"]["digest"]


# Mixed: some files and images are local builds, the rest come from the (loopback) upstream.


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sources]:
    need_servers()
    work = tmp_path_factory.mktemp("servers")
    www = work / "www"
    www.mkdir()
    with nginx(www, work / "nginx") as (url, log), registry(work / "registry") as reg:
        yield build_sources(www, reg, url, log, binary_size=1 << 16)


def test_local_builds_and_downloads_mix_in_one_bundle(
    servers: Sources, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    plan = servers.plan
    local_spec = plan.files[0]
    own = tmp_path / "own"
    (own / local_spec.path.removeprefix("files/")).parent.mkdir(parents=True)
    (own / local_spec.path.removeprefix("files/")).write_bytes(b"built from source\n")
    layout = tmp_path / "layout"
    oci.write_image(layout, plan.images[0], {"bin/ours": b"our build\n"})
    oci.write_image(layout, SMOKE, {"smoke": b"smoke\n"})
    opts = build.Options(
        tmp_path / "bundle",
        keys[0],
        tmp_path / "cache",
        servers.mirrors,
        servers.registry_mirrors,
        wheels=False,
        local_files=(own,),
        local_images=(layout,),
    )
    result = build.build(plan, opts)
    items = result.manifest.item_map()
    assert items[f"file:{local_spec.name}"].is_local
    assert items[f"file:{plan.files[1].name}"].source == plan.files[1].url
    assert items[f"file:{plan.files[1].name}"].sha256 == plan.files[1].sha256
    first, second = (oci.parse_ref(ref) for ref in plan.images)
    assert items[f"image:{first.registry}/{first.repository}"].is_local
    assert items[f"image:{second.registry}/{second.repository}"].source == plan.images[1]
    assert sorted(oci.images(tmp_path / "bundle" / "images")) == sorted([*plan.images, SMOKE])
    assert verifier.verify(tmp_path / "bundle", keys[1]).ok

    # An upstream bundle of the same plan, then the diff: the local build replaced a file.
    upstream = build.build(
        plan, replace(opts, output=tmp_path / "up", local_files=(), local_images=())
    )
    runner = CliRunner()
    shown = runner.invoke(
        cli, ["bundle", "diff", str(tmp_path / "up"), str(tmp_path / "bundle"), "--json"]
    )
    assert shown.exit_code == 0, shown.output
    changed = {c["name"]: c for c in json.loads(shown.stdout)["changed"]}
    assert changed[local_spec.name]["new_is_local"] is True
    assert changed[local_spec.name]["old_sha256"] == local_spec.sha256
    assert [a["name"] for a in json.loads(shown.stdout)["added"]] == ["docker.io/k8s-install/smoke"]
    assert upstream.manifest.item_map()[f"file:{local_spec.name}"].upstream_sha256 == ""


def test_a_reference_pinned_by_digest_takes_the_local_build_of_that_digest(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    layout = _local_layout(tmp_path / "layout")
    digest = oci.images(layout)[SMOKE]["digest"]
    pinned = f"{SMOKE}@{digest}"
    plan = replace(_plan(), files=[], images=[pinned])
    opts = build.Options(
        tmp_path / "bundle", keys[0], tmp_path / "c", {}, {}, wheels=False, local_images=(layout,)
    )
    result = build.build(plan, opts)
    carried = oci.images(tmp_path / "bundle" / "images")
    assert sorted(carried) == sorted([PAUSE, pinned])
    assert carried[pinned]["digest"] == digest
    item = result.manifest.item_map()["image:docker.io/k8s-install/smoke"]
    assert item.version == f"1.0@{digest}"
    assert item.is_local
    assert verifier.verify(tmp_path / "bundle", keys[1]).ok


def test_a_reference_pinned_to_another_digest_than_the_local_build_is_refused(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    layout = _local_layout(tmp_path / "layout")
    plan = replace(_plan(), files=[], images=[f"{SMOKE}@sha256:{'0' * 64}"])
    opts = build.Options(
        tmp_path / "bundle", keys[0], tmp_path / "c", {}, {}, wheels=False, local_images=(layout,)
    )
    with pytest.raises(K8sInstallError) as caught:
        build.build(plan, opts)
    assert caught.value.code == 2
    assert f"the local image {SMOKE} in {layout} has digest" in str(caught.value)
    assert not (tmp_path / "bundle" / "manifest.json").exists()


SITE = "10.89.0.11:5000"  # offline.repo_host:registry_port, the addons' `registry` global


def _site_opts(tmp_path: Path, keys: tuple[Path, Path], *layouts: Path) -> build.Options:
    return build.Options(
        tmp_path / "bundle",
        keys[0],
        tmp_path / "cache",
        {},
        {},
        wheels=False,
        local_files=(_local_tree(tmp_path / "own"),),
        local_images=layouts or (_local_layout(tmp_path / "layout"),),
    )


def test_an_image_named_under_the_site_registry_is_the_local_build_of_its_path(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    # No server runs: a pull from the site registry (which bundle serve fills later) would fail.
    plan = replace(_plan(), images=[PAUSE, f"{SITE}/k8s-install/smoke:1.0"], site_registry=SITE)
    result = build.build(plan, _site_opts(tmp_path, keys))
    assert result.downloaded_bytes == 0
    assert sorted(result.manifest.item_map()) == [
        "file:etcd",
        "file:kubelet",
        "image:docker.io/k8s-install/smoke",
        "image:registry.k8s.io/pause",
    ]


def test_the_plan_file_keeps_the_site_registry(tmp_path: Path) -> None:
    planner.save(replace(_plan(), site_registry=SITE), tmp_path / "plan.yaml")
    assert planner.load(tmp_path / "plan.yaml").site_registry == SITE


@pytest.mark.parametrize(
    ("image", "extra", "message"),
    [
        (f"{SITE}/k8s-install/other:1.0", False, "no --local-images image has its path"),
        (f"{SITE}/k8s-install/smoke:2.0", False, "no --local-images image has its path"),
        (
            f"{SITE}/k8s-install/smoke:1.0",
            True,
            "2 --local-images images have its path k8s-install/smoke:1.0: "
            "docker.io/k8s-install/smoke:1.0, quay.io/k8s-install/smoke:1.0",
        ),
        (f"{SITE}/k8s-install/smoke:1.0@sha256:{'0' * 64}", False, "has digest sha256:"),
    ],
)
def test_a_site_image_without_exactly_one_local_build_is_refused(
    image: str, extra: bool, message: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    layouts = [_local_layout(tmp_path / "layout")]
    if extra:
        other = tmp_path / "other"
        oci.write_image(other, "quay.io/k8s-install/smoke:1.0", {"smoke": b"a second smoke\n"})
        layouts.append(other)
    plan = replace(_plan(), images=[PAUSE, image], site_registry=SITE)
    with pytest.raises(K8sInstallError, match=message) as caught:
        build.build(plan, _site_opts(tmp_path, keys, *layouts))
    assert caught.value.code == 2
    assert SITE in str(caught.value)
    assert not (tmp_path / "bundle").exists()
