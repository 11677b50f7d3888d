"""Layers and images we write ourselves: deterministic tars, real modes and links, OCI configs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from k8s_install.bundle import layers, oci


def _blob(layout: Path, digest: str) -> bytes:
    return oci.blob_path(layout, digest).read_bytes()


def _manifest(layout: Path, ref: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_blob(layout, oci.images(layout)[ref]["digest"]))
    return result


def _config(layout: Path, ref: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_blob(layout, _manifest(layout, ref)["config"]["digest"]))
    return result


def _members(layout: Path, digest: str) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(_blob(layout, digest)))) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def _tree(root: Path) -> Path:
    """A small tree: a directory, an executable, a setuid file, a symlink and a hard link."""
    (root / "usr/bin").mkdir(parents=True)
    tool = root / "usr/bin/tool"
    tool.write_bytes(b"#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    secret = root / "usr/bin/su"
    secret.write_bytes(b"su")
    secret.chmod(0o4755)
    (root / "usr/bin/alias").symlink_to("tool")
    os.link(tool, root / "usr/bin/zz-tool")
    (root / "etc").mkdir(mode=0o750)
    (root / "etc").chmod(0o750)
    return root


def test_tree_layer_keeps_modes_symlinks_and_hard_links(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layer = oci.write_layer(layout, layers.tree_entries(_tree(tmp_path / "root")))
    members = _members(layout, layer.digest)
    assert list(members) == [
        "etc",
        "usr",
        "usr/bin",
        *sorted(["usr/bin/" + n for n in ("alias", "su", "tool", "zz-tool")]),
    ]
    assert members["etc"].isdir() and members["etc"].mode == 0o750
    assert members["usr/bin/tool"].isfile() and members["usr/bin/tool"].mode == 0o755
    assert members["usr/bin/su"].mode == 0o4755
    assert members["usr/bin/alias"].issym() and members["usr/bin/alias"].linkname == "tool"
    assert (
        members["usr/bin/zz-tool"].islnk() and members["usr/bin/zz-tool"].linkname == "usr/bin/tool"
    )
    for member in members.values():
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0,
            0,
            0,
            "",
            "",
        )


def test_hard_link_target_is_first_in_layer_order(tmp_path: Path) -> None:
    """os.walk lists a/c before a/b/x; the layer lists a/b/x first, so it carries the data."""
    root = tmp_path / "root"
    (root / "a/b").mkdir(parents=True)
    (root / "a/c").write_bytes(b"data")
    os.link(root / "a/c", root / "a/b/x")
    entries = {e.path: e for e in layers.tree_entries(root)}
    assert entries["a/b/x"].kind == "file"
    assert (entries["a/c"].kind, entries["a/c"].target) == ("hardlink", "a/b/x")


def test_tree_under_a_prefix_adds_its_directories(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_text("hi\n")
    paths = [e.path for e in layers.normalise(layers.tree_entries(root, "/srv/www/"))]
    assert paths == ["srv", "srv/www", "srv/www/index.html"]


def test_in_memory_entries_add_parents_and_sort(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    binary = tmp_path / "kube-proxy"
    binary.write_bytes(b"\x7fELF fake")
    binary.chmod(0o700)
    layer = oci.write_layer(
        layout,
        [
            layers.symlink("bin/sh", "busybox"),
            layers.file_from("/usr/local/bin/kube-proxy", binary),
            layers.file("bin/busybox", b"bb", 0o755),
            layers.directory("tmp", 0o1777),
        ],
    )
    members = _members(layout, layer.digest)
    assert list(members) == [
        "bin",
        "bin/busybox",
        "bin/sh",
        "tmp",
        "usr",
        "usr/local",
        "usr/local/bin",
        "usr/local/bin/kube-proxy",
    ]
    assert members["usr/local/bin/kube-proxy"].mode == 0o700  # the source file's own mode
    assert members["usr"].mode == 0o755
    assert members["tmp"].mode == 0o1777
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"


def test_diff_id_is_the_sha256_of_the_uncompressed_tar(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layer = oci.write_layer(layout, [layers.file("hello", b"hello\n")])
    compressed = _blob(layout, layer.digest)
    assert layer.digest == "sha256:" + hashlib.sha256(compressed).hexdigest()
    assert layer.size == len(compressed)
    assert layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(compressed)).hexdigest()
    assert compressed[4:8] == b"\0\0\0\0"  # gzip header: mtime 0
    assert compressed[3] & 0x08 == 0  # no file name in the header


def test_same_inputs_same_digests(tmp_path: Path) -> None:
    def build(name: str) -> tuple[str, str]:
        root = _tree(tmp_path / name / "root")
        layout = tmp_path / name / "layout"
        layer = oci.write_layer(layout, layers.tree_entries(root))
        entry = oci.write_layered_image(
            layout, "example.test/tool:1", [layer], oci.ImageConfig(entrypoint=("/usr/bin/tool",))
        )
        return layer.digest, entry["digest"]

    first = build("one")
    os.utime(tmp_path / "one/root/usr/bin/tool", (1, 1))  # mtimes do not count
    assert build("two") == first
    assert build("three") == first


def test_shared_layer_is_stored_once(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    base = oci.write_layer(layout, [layers.file("etc/os-release", b"ID=debian\n")])
    again = oci.write_layer(layout, [layers.file("etc/os-release", b"ID=debian\n")])
    assert again == base
    for name in ("a", "b"):
        top = oci.write_layer(layout, [layers.file(f"usr/local/bin/{name}", name.encode(), 0o755)])
        oci.write_layered_image(layout, f"example.test/{name}:1", [base, top], oci.ImageConfig())
    manifests = [_manifest(layout, f"example.test/{n}:1") for n in ("a", "b")]
    assert manifests[0]["layers"][0] == manifests[1]["layers"][0]
    assert manifests[0]["layers"][1] != manifests[1]["layers"][1]
    blobs = sorted(p.name for p in (layout / "blobs/sha256").iterdir())
    # 3 layers, 2 configs, 2 manifests; no temporary file left behind
    assert len(blobs) == 7 and not any(name.startswith(".") for name in blobs)


def test_config_fields(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layer = oci.write_layer(layout, [layers.file("coredns", b"x", 0o755)])
    oci.write_layered_image(
        layout,
        "registry.k8s.io/coredns/coredns:v1.12.4",
        [layer],
        oci.ImageConfig(
            entrypoint=("/coredns",), cmd=("-conf", "/etc/Corefile"), working_dir="/", user="65532"
        ),
    )
    config = _config(layout, "registry.k8s.io/coredns/coredns:v1.12.4")
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer.diff_id]}
    assert config["config"] == {
        "Entrypoint": ["/coredns"],
        "Cmd": ["-conf", "/etc/Corefile"],
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "WorkingDir": "/",
        "User": "65532",
    }
    manifest = _manifest(layout, "registry.k8s.io/coredns/coredns:v1.12.4")
    assert manifest["mediaType"] == oci.OCI_MANIFEST
    assert manifest["layers"] == [
        {"mediaType": oci.OCI_LAYER, "digest": layer.digest, "size": layer.size}
    ]


def test_unset_config_fields_are_left_out(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layer = oci.write_layer(layout, [layers.file("usr/local/bin/kube-scheduler", b"x", 0o755)])
    oci.write_layered_image(layout, "example.test/s:1", [layer], oci.ImageConfig())
    assert _config(layout, "example.test/s:1")["config"] == {"Env": [oci.DEFAULT_PATH]}


def test_write_image_keeps_its_one_layer_form(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    entry = oci.write_image(layout, "example.test/hello:1", {"bin/hello": b"hi\n", "z": b""})
    assert entry["annotations"][oci.REF_NAME] == "example.test/hello:1"
    manifest = _manifest(layout, "example.test/hello:1")
    assert len(manifest["layers"]) == 1
    members = _members(layout, manifest["layers"][0]["digest"])
    assert members["bin/hello"].mode == 0o755
    assert _config(layout, "example.test/hello:1")["config"]["Entrypoint"] == ["/bin/hello"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([layers.file("a", b""), layers.file("/a/", b"")], "twice"),
        ([layers.file("a", b""), layers.file("a/b", b"")], "is a file"),
        (
            [layers.Entry("b", "hardlink", 0o644, target="z"), layers.file("z", b"")],
            "before its target",
        ),
    ],
)
def test_bad_entries_are_refused(entries: list[layers.Entry], message: str, tmp_path: Path) -> None:
    with pytest.raises(layers.LayerError, match=message):
        oci.write_layer(tmp_path / "layout", entries)
    assert not [p for p in (tmp_path / "layout/blobs/sha256").iterdir()]


@pytest.mark.parametrize("path", ["", "/", "../etc/passwd", "a/../../b"])
def test_paths_outside_the_image_are_refused(path: str) -> None:
    with pytest.raises(layers.LayerError, match="not a path inside the image"):
        layers.file(path, b"")


def test_device_files_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.mkfifo(root / "fifo")
    with pytest.raises(layers.LayerError, match="FIFO"):
        layers.tree_entries(root)
