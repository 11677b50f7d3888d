"""scripts/artifacts/addon_images.py: the addons' images, their names, layers, entrypoints, users.

The images are built here from stand-in binaries and a stand-in busybox tree. One integration
test builds the real binaries (gobuild's cache: a hit costs a stat) and checks with
`go version -m` that each comes from the upstream module at its release tag.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from artifacts import addon_images, build, gobuild, recipes

from k8s_install.bundle import oci

# The upstream module of each recipe, and the stamps `go version -m` shows.
UPSTREAM = {
    "metrics-server": "sigs.k8s.io/metrics-server",
    "local-path-provisioner": "github.com/rancher/local-path-provisioner",
    "metallb": "go.universe.tf/metallb",
    "sealed-secrets-controller": "github.com/bitnami-labs/sealed-secrets",
    "traefik": "github.com/traefik/traefik/v3",
}
APPLETS = ("sh", "mkdir", "rm", "ls")


@pytest.fixture
def bins(tmp_path: Path) -> dict[str, Path]:
    """Stand-in build directories: a small script per binary of each addon recipe."""
    result = {}
    for recipe in recipes.ADDONS:
        folder = tmp_path / "bins" / recipe.name
        folder.mkdir(parents=True)
        for binary in recipe.binaries:
            path = folder / binary.name
            path.write_text(f"#!/bin/sh\necho {recipe.name} {binary.name}\n")
            path.chmod(0o644)  # build_images makes them executable in the image
        result[recipe.name] = folder
    return result


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    """A stand-in of busybox_tree's output."""
    tree = tmp_path / "busybox"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin/busybox").write_text("#!/bin/sh\n")
    (tree / "applets").write_text("\n".join(APPLETS) + "\n")
    (tree / "copyright").write_text("GPL-2\n")
    return tree


def _build(tmp_path: Path, bins: dict[str, Path], busybox: Path) -> list[str]:
    return addon_images.build_images(
        tmp_path / "layout", bins, tmp_path / "cache", busybox_root=busybox
    )


def _image(layout: Path, name: str) -> tuple[dict[str, Any], list[dict[str, tarfile.TarInfo]]]:
    """The image's config and, per layer, its tar members by name."""
    manifest = json.loads(oci.blob_path(layout, oci.images(layout)[name]["digest"]).read_bytes())
    config = json.loads(oci.blob_path(layout, manifest["config"]["digest"]).read_bytes())
    members = []
    for layer in manifest["layers"]:
        data = gzip.decompress(oci.blob_path(layout, layer["digest"]).read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members.append({m.name.rstrip("/"): m for m in tar.getmembers()})
    return config, members


def test_names_and_tags_are_the_charts_defaults(
    tmp_path: Path, bins: dict[str, Path], busybox: Path
) -> None:
    names = _build(tmp_path, bins, busybox)
    assert names == [
        "docker.io/bitnami/sealed-secrets-controller:0.36.6",
        "docker.io/library/busybox:1.35.0",
        "docker.io/library/traefik:v3.6.25",
        "docker.io/rancher/local-path-provisioner:v0.0.33",
        "quay.io/metallb/controller:v0.15.2",
        "quay.io/metallb/speaker:v0.15.2",
        "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
    ]
    assert names == addon_images.names()
    assert sorted(oci.images(tmp_path / "layout")) == names


@pytest.mark.parametrize(
    ("name", "path", "entrypoint", "cmd", "user"),
    [
        (
            "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
            "metrics-server",
            ["/metrics-server"],
            None,
            "65534",
        ),
        (
            "docker.io/rancher/local-path-provisioner:v0.0.33",
            "usr/bin/local-path-provisioner",
            None,
            ["local-path-provisioner"],
            None,
        ),
        ("quay.io/metallb/controller:v0.15.2", "controller", ["/controller"], None, None),
        ("quay.io/metallb/speaker:v0.15.2", "speaker", ["/speaker"], None, None),
        (
            "docker.io/bitnami/sealed-secrets-controller:0.36.6",
            "usr/local/bin/controller",
            ["controller"],
            None,
            "1001",
        ),
        (
            "docker.io/library/traefik:v3.6.25",
            "usr/local/bin/traefik",
            ["/usr/local/bin/traefik"],
            None,
            None,
        ),
    ],
)
def test_each_program_where_upstream_puts_it(
    tmp_path: Path,
    bins: dict[str, Path],
    busybox: Path,
    name: str,
    path: str,
    entrypoint: list[str] | None,
    cmd: list[str] | None,
    user: str | None,
) -> None:
    _build(tmp_path, bins, busybox)
    config, (base, top) = _image(tmp_path / "layout", name)
    assert config["config"].get("Entrypoint") == entrypoint
    assert config["config"].get("Cmd") == cmd
    assert config["config"].get("User") == user
    assert (
        "/usr/local/bin" in config["config"]["Env"][0] and "/usr/bin" in config["config"]["Env"][0]
    )
    files = [m for m in top.values() if m.isfile()]
    assert [m.name for m in files] == [path] and files[0].mode == 0o755
    assert base["tmp"].mode == 0o1777
    passwd = {"etc/passwd", "etc/group", "etc/nsswitch.conf"}
    assert passwd <= set(base)


def test_the_go_programs_share_one_base_layer(
    tmp_path: Path, bins: dict[str, Path], busybox: Path
) -> None:
    _build(tmp_path, bins, busybox)
    layout = tmp_path / "layout"
    bases = set()
    for image in addon_images.IMAGES:
        manifest = json.loads(
            oci.blob_path(layout, oci.images(layout)[image.ref]["digest"]).read_bytes()
        )
        bases.add(manifest["layers"][0]["digest"])
    assert len(bases) == 1


def test_busybox_is_one_binary_and_a_link_per_applet(
    tmp_path: Path, bins: dict[str, Path], busybox: Path
) -> None:
    _build(tmp_path, bins, busybox)
    config, (layer,) = _image(tmp_path / "layout", addon_images.BUSYBOX_IMAGE)
    assert config["config"]["Cmd"] == ["sh"] and "Entrypoint" not in config["config"]
    assert layer["bin/busybox"].mode == 0o755
    for applet in APPLETS:
        assert layer[f"bin/{applet}"].issym() and layer[f"bin/{applet}"].linkname == "busybox"
    assert layer["tmp"].mode == 0o1777
    assert "usr/share/doc/busybox-static/copyright" in layer


def test_same_binaries_same_digests(tmp_path: Path, bins: dict[str, Path], busybox: Path) -> None:
    _build(tmp_path / "one", bins, busybox)
    _build(tmp_path / "two", bins, busybox)
    digests = [
        {n: e["digest"] for n, e in oci.images(tmp_path / run / "layout").items()}
        for run in ("one", "two")
    ]
    assert digests[0] == digests[1] and len(digests[0]) == 7


def test_a_missing_build_is_named(tmp_path: Path, bins: dict[str, Path], busybox: Path) -> None:
    del bins["metallb"]
    with pytest.raises(addon_images.ImageBuildError, match="no build of metallb"):
        _build(tmp_path, bins, busybox)


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [("1:1.35.0-4+deb12u1+b1", "1.35.0"), ("1.36.1-9", "1.36.1"), ("1.37.0", "1.37.0")],
)
def test_the_tag_is_the_packages_upstream_version(debian: str, upstream: str) -> None:
    assert addon_images.upstream_version(debian) == upstream


def test_another_busybox_version_is_refused_before_any_download(tmp_path: Path) -> None:
    package = addon_images.DebianPackage("busybox-static", "1:1.36.1-9", "0" * 64)
    with pytest.raises(
        addon_images.ImageBuildError, match=r"upstream version 1\.36\.1, not 1\.35\.0"
    ):
        addon_images.busybox_tree(tmp_path, package, print)
    assert not list(tmp_path.iterdir())


def test_the_addon_recipes_build_readonly_from_their_own_wrappers() -> None:
    root = Path(__file__).resolve().parents[1]
    assert [r.name for r in recipes.ADDONS] == list(UPSTREAM)
    for recipe in recipes.ADDONS:
        assert "-mod=readonly" in recipe.extra
        assert (root / recipe.module_dir / "go.mod").is_file()
        assert (root / recipe.module_dir / "go.sum").is_file()
        assert recipe.name not in recipes.SETS[recipes.DEFAULT_SET].components
    assert recipes.by_name("traefik").version == recipes.TRAEFIK


def test_the_busybox_key_covers_the_package_version_and_sha256() -> None:
    first = addon_images.DebianPackage("busybox-static", "1:1.35.0-4+deb12u1+b1", "1" * 64)
    keys = {
        addon_images.busybox_key(package)
        for package in (
            first,
            addon_images.DebianPackage(first.name, first.version, "2" * 64),
            addon_images.DebianPackage(first.name, "1:1.35.0-4+deb12u2", first.sha256),
        )
    }
    assert len(keys) == 3


def _go_version_m(binary: Path) -> str:
    proc = subprocess.run(
        ["go", "version", "-m", str(binary)], capture_output=True, text=True, check=True
    )
    return proc.stdout


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain on PATH")
@pytest.mark.parametrize("recipe", recipes.ADDONS, ids=lambda r: r.name)
def test_each_binary_comes_from_the_upstream_module_at_its_tag(recipe: recipes.Recipe) -> None:
    """The binaries build.py puts in the images (gobuild's cache; built on a miss)."""
    cache = Path(os.environ.get("K8S_INSTALL_ARTIFACTS", str(build.DEFAULT_CACHE)))
    built = gobuild.build(recipe, cache, print)
    for binary in recipe.binaries:
        info = _go_version_m(built / binary.name)
        module = UPSTREAM[recipe.name]
        # Built as a tool of the wrapper, the binary's main module is upstream's, at its tag.
        assert f"\tmod\t{module}\tv{recipe.version}\th1:" in info, info[:500]
        assert f"\tpath\t{binary.package}\n" in info
        assert "\tbuild\tCGO_ENABLED=0\n" in info
        assert "\tbuild\t-trimpath=true\n" in info
        # -trimpath leaves -ldflags out of the build info: the stamps' values are in the binary.
        data = (built / binary.name).read_bytes()
        stamps = [w.split("=", 1)[1] for w in recipe.ldflags.split() if w.count("=") == 1]
        assert stamps and all(value.encode() in data for value in stamps), stamps


@pytest.mark.parametrize("flag", ["--no-addons", "--no-images"])
def test_without_addons_build_py_knows_no_addon_component(
    flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["build.py", "--cache", str(tmp_path), flag, "--only", "metallb"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exited:
        build.main()
    assert exited.value.code == 2
    assert "no component metallb" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_nonroot_owns_its_home_as_in_distroless() -> None:
    home = next(e for e in addon_images.base_entries() if e.path == "home/nonroot")
    assert (home.kind, home.mode, home.uid, home.gid) == ("dir", 0o700, 65532, 65532)
