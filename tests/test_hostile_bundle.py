"""bundle verify refuses links and other non-files, by name, and never reads outside the bundle."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from k8s_install.bundle import manifest as mf
from k8s_install.bundle import sign
from k8s_install.bundle import verify as verifier
from k8s_install.cli import cli

OUTSIDE = b"root:x:0:0:root:/root:/bin/bash\n"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    sign.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    return tmp_path / "k.key", tmp_path / "k.pub"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the bundle whose content the manifest lists (the attack: reuse it)."""
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_bytes(OUTSIDE)
    return path


def _bundle(root: Path, key: Path, files: dict[str, bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    entries = {}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        entries[rel] = mf.FileEntry(*verifier.sha256_file(root / rel))
    raw = mf.Manifest("t", "2026-01-01T00:00:00Z", {}, [], entries).to_bytes()
    (root / mf.MANIFEST).write_bytes(raw)
    (root / mf.SIGNATURE).write_bytes(sign.sign(raw, key))


def _replace_with_symlink(root: Path, outside: Path) -> str:
    (root / "files/p").unlink()
    (root / "files/p").symlink_to(outside)
    return "files/p"


def _replace_with_hardlink(root: Path, outside: Path) -> str:
    (root / "files/p").unlink()
    os.link(outside, root / "files/p")
    return "files/p"


def _extra_symlink(root: Path, outside: Path) -> str:
    (root / "files/extra").symlink_to(outside)
    return "files/extra"


def _symlinked_directory(root: Path, outside: Path) -> str:
    (root / "files/dir").symlink_to(outside.parent, target_is_directory=True)
    return "files/dir"


def _symlinked_manifest(root: Path, outside: Path) -> str:
    real = root.parent / "real-manifest.json"
    (root / mf.MANIFEST).rename(real)
    (root / mf.MANIFEST).symlink_to(real)
    return mf.MANIFEST


def _dangling_symlink(root: Path, outside: Path) -> str:
    (root / "files/dangling").symlink_to(root / "nowhere")
    return "files/dangling"


def _fifo(root: Path, outside: Path) -> str:
    os.mkfifo(root / "files/fifo")
    return "files/fifo"


DIR_CASES: list[tuple[str, Callable[[Path, Path], str]]] = [
    ("listed file replaced by a symlink", _replace_with_symlink),
    ("listed file replaced by a hard link", _replace_with_hardlink),
    ("extra symlink", _extra_symlink),
    ("symlinked directory", _symlinked_directory),
    ("symlinked manifest", _symlinked_manifest),
    ("dangling symlink", _dangling_symlink),
    ("FIFO", _fifo),
]


@pytest.mark.parametrize("plant", [c[1] for c in DIR_CASES], ids=[c[0] for c in DIR_CASES])
def test_directory_bundle_with_a_link_fails_naming_it(
    plant: Callable[[Path, Path], str], tmp_path: Path, keys: tuple[Path, Path], outside: Path
) -> None:
    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/p": OUTSIDE, "files/q": b"q"})
    assert verifier.verify(root, keys[1]).ok
    name = plant(root, outside)
    report = verifier.verify(root, keys[1])
    assert not report.ok
    assert any(entry.startswith(name) for entry in report.links), report.links
    result = CliRunner().invoke(cli, ["bundle", "verify", str(root), "--key", str(keys[1])])
    assert result.exit_code == 1 and name in result.stderr
    assert OUTSIDE.decode().strip() not in result.output


def _tar_with(root: Path, archive: Path, extra: Callable[[tarfile.TarFile], None]) -> None:
    with tarfile.open(archive, "w") as tar:
        for name in (mf.MANIFEST, mf.SIGNATURE, "files/q"):
            tar.add(root / name, arcname=name)
        extra(tar)


def _member(name: str, kind: bytes, target: str = "") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = target
        tar.addfile(info)

    return add


def _escaping_file(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("../escape")
    info.size = len(OUTSIDE)
    tar.addfile(info, io.BytesIO(OUTSIDE))


TAR_CASES = [
    ("symlink to /etc/passwd", _member("files/p", tarfile.SYMTYPE, "/etc/passwd"), "files/p"),
    ("relative symlink out", _member("files/p", tarfile.SYMTYPE, "../../x"), "files/p"),
    ("hard link to a member", _member("files/p", tarfile.LNKTYPE, "files/q"), "files/p"),
    ("hard link to /etc/passwd", _member("files/p", tarfile.LNKTYPE, "/etc/passwd"), "files/p"),
    ("character device", _member("files/dev", tarfile.CHRTYPE), "files/dev"),
    ("FIFO", _member("files/fifo", tarfile.FIFOTYPE), "files/fifo"),
    ("path outside the bundle", _escaping_file, "../escape"),
    ("symlinked manifest", _member(mf.MANIFEST, tarfile.SYMTYPE, "/etc/passwd"), mf.MANIFEST),
]


@pytest.mark.parametrize(
    ("extra", "name"), [c[1:] for c in TAR_CASES], ids=[c[0] for c in TAR_CASES]
)
def test_tar_bundle_with_a_link_fails_naming_it(
    extra: Callable[[tarfile.TarFile], None], name: str, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/q": b"q"})
    archive = tmp_path / "b.tar"
    _tar_with(root, archive, extra)
    report = verifier.verify(archive, keys[1])
    assert not report.ok
    assert any(entry.startswith(name) for entry in report.links), report.links
    result = CliRunner().invoke(
        cli, ["bundle", "verify", str(archive), "--key", str(keys[1]), "--json"]
    )
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False and any(name in entry for entry in document["links"])


def test_a_clean_tar_still_verifies(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/q": b"q"})
    archive = tmp_path / "b.tar"
    _tar_with(root, archive, lambda tar: None)
    assert verifier.verify(archive, keys[1]).ok


def test_base_bundle_files_are_never_read_through_a_link(
    tmp_path: Path, keys: tuple[Path, Path], outside: Path
) -> None:
    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/q": b"q"})
    raw = mf.Manifest(
        "t",
        "2026-01-01T00:00:00Z",
        {},
        [],
        {"files/q": mf.FileEntry(*verifier.sha256_file(root / "files/q"))}
        | {"files/p": mf.FileEntry(*verifier.sha256_file(outside), in_base=True)},
    ).to_bytes()
    (root / mf.MANIFEST).write_bytes(raw)
    (root / mf.SIGNATURE).write_bytes(sign.sign(raw, keys[0]))
    base = tmp_path / "base"
    (base / "files").mkdir(parents=True)
    (base / "files/p").symlink_to(outside)
    report = verifier.verify(root, keys[1], base)
    assert not report.ok
    assert any("files/p" in entry for entry in report.links)
