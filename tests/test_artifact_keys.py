"""The build's cache keys see every input, and the build uses only the committed lock files.

The binaries are keyed by the recipe, the Go toolchain, the wrapper module's go.mod and go.sum
and, for cgo, the C toolchain; the assembled artifacts by the binaries, the code that shapes
them and the Debian snapshot of the netbase layer. A real `go build` shows that the build can
never rewrite go.mod or go.sum, and that a recipe's env reaches it.
"""

from __future__ import annotations

import dataclasses
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifacts import build

recipes, gobuild, images = build.recipes, build.gobuild, build.image_recipes

MAIN_GO = """package main

import "fmt"

var flavour = "plain"

func main() { fmt.Println(flavour) }
"""
TAGGED_GO = """//go:build special

package main

func init() { flavour = "special" }
"""


def module(root: Path, name: str, go_mod: str, **sources: str) -> recipes.Recipe:
    """A wrapper module build/NAME under `root`, and a recipe for its one binary."""
    directory = root / "build" / name
    directory.mkdir(parents=True)
    (directory / "go.mod").write_text(go_mod)
    for file, text in sources.items():
        (directory / file).write_text(text)
    return recipes.Recipe(name, "1.0.0", (recipes.Binary(name, "."),))


@pytest.fixture
def go_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(gobuild, "ROOT", tmp_path)
    monkeypatch.setattr(gobuild, "GO_CACHE", tmp_path / "go")
    monkeypatch.setenv("GOPROXY", "off")
    return tmp_path


def test_the_build_never_updates_the_lock_files(go_root: Path) -> None:
    go_mod = "module example.test/locked\n\ngo 1.22\n\nrequire example.test/absent v1.0.0\n"
    recipe = module(
        go_root,
        "locked",
        go_mod,
        **{"main.go": 'package main\n\nimport _ "example.test/absent"\n\nfunc main() {}\n'},
    )
    with pytest.raises(subprocess.CalledProcessError):
        gobuild.build(recipe, go_root / "cache", lambda _message: None)
    directory = go_root / "build" / "locked"
    assert (directory / "go.mod").read_text() == go_mod
    assert not (directory / "go.sum").exists()
    assert gobuild.go_env(False)["GOFLAGS"] == "-mod=readonly"


def test_a_recipes_env_reaches_go_build(go_root: Path) -> None:
    go_mod = "module example.test/flavour\n\ngo 1.22\n"
    plain = module(go_root, "flavour", go_mod, **{"main.go": MAIN_GO, "special.go": TAGGED_GO})
    special = dataclasses.replace(plain, env={"GOFLAGS": "-mod=readonly -tags=special"})
    assert gobuild.key(plain, "go1") != gobuild.key(special, "go1")
    cache = go_root / "cache"
    outputs = []
    for recipe in (plain, special):
        entry = gobuild.build(recipe, cache, lambda _message: None)
        run = subprocess.run([str(entry / "flavour")], capture_output=True, text=True, check=True)
        outputs.append(run.stdout.strip())
    assert outputs == ["plain", "special"]


def test_a_cgo_build_is_keyed_by_the_c_toolchain(monkeypatch: pytest.MonkeyPatch) -> None:
    runc = recipes.by_name("runc")
    etcd = recipes.by_name("etcd")
    assert runc.cgo and not etcd.cgo
    before = {r.name: gobuild.key(r, "go1") for r in (runc, etcd)}
    monkeypatch.setattr(gobuild, "cgo_toolchain", lambda: "gcc=99 libseccomp-dev=9.9")
    after = {r.name: gobuild.key(r, "go1") for r in (runc, etcd)}
    assert after["runc"] != before["runc"]
    assert after["etcd"] == before["etcd"]


def test_the_c_toolchain_names_gcc_and_libseccomp() -> None:
    found = gobuild.cgo_toolchain()
    assert found.startswith("gcc=") and " libseccomp-dev=" in found


def test_every_recipes_lock_files_and_its_toolchain_are_in_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = recipes.by_name("etcd")
    copy = tmp_path / recipe.module_dir
    copy.mkdir(parents=True)
    for name in ("go.mod", "go.sum"):
        (copy / name).write_bytes((gobuild.ROOT / recipe.module_dir / name).read_bytes())
    monkeypatch.setattr(gobuild, "ROOT", tmp_path)
    first = gobuild.key(recipe, "go1.26.8")
    assert gobuild.key(recipe, "go1.26.9") != first
    with (copy / "go.sum").open("a") as handle:
        handle.write("example.test/x v1.0.0 h1:AAAA=\n")
    assert gobuild.key(recipe, "go1.26.8") != first


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Debian mirror on loopback: its URL and the directory it serves."""
    www = tmp_path / "www"
    (www / "debian" / "dists" / "bookworm").mkdir(parents=True)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(www), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/debian", www
    finally:
        server.shutdown()
        server.server_close()


def release(www: Path, text: str) -> None:
    (www / "debian" / "dists" / "bookworm" / "InRelease").write_text(text)


def test_the_netbase_key_follows_the_mirrors_snapshot(
    mirror: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, www = mirror
    monkeypatch.setenv("K8S_INSTALL_DEBIAN_MIRROR", url)
    release(www, "Origin: Debian\nSuite: oldstable\nDate: Sat, 11 Jul 2026 10:16:37 UTC\n")
    first = images.debian_snapshot(images.debian_mirror())
    assert first == "Sat, 11 Jul 2026 10:16:37 UTC"
    release(www, "Origin: Debian\nSuite: oldstable\nDate: Sat, 05 Sep 2026 09:00:00 UTC\n")
    second = images.debian_snapshot(images.debian_mirror())
    assert images.netbase_key(first) != images.netbase_key(second)
    monkeypatch.setenv("K8S_INSTALL_DEBIAN_MIRROR", url + "-other")
    assert images.netbase_key(first) != images.netbase_key(first.replace("2026", "2026 "))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(None, "cannot read", id="missing"),
        pytest.param("Origin: Debian\nSuite: oldstable\n", "has no Date", id="no-date"),
        pytest.param("\xff" * 10 + "\nnot a release\n", "has no Date", id="garbage"),
    ],
)
def test_a_mirror_without_a_snapshot_date_is_named_with_the_fix(
    mirror: tuple[str, Path], body: str | None, problem: str
) -> None:
    url, www = mirror
    if body is not None:
        release(www, body)
    with pytest.raises(images.ImageBuildError) as failed:
        images.debian_snapshot(url)
    assert problem in str(failed.value)
    assert "K8S_INSTALL_DEBIAN_MIRROR" in str(failed.value.fix)


def test_the_assembly_is_keyed_by_the_code_that_shapes_it() -> None:
    hashes = build.code_hashes()
    assert set(hashes) >= {"package.py", "images.py", "addon_images.py", "oci.py", "layers.py"}
    assert all(len(digest) == 64 for digest in hashes.values())
