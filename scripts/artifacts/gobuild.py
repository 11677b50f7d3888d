"""`go build` of one recipe into a cache directory keyed by every input.

The key covers the recipe (packages, flags, tags, cgo), the wrapper's go.mod and go.sum, the Go
version and the target platform. A hit costs a stat; a miss builds into a temporary directory
and renames it into place, so an interrupted build never leaves a half-filled entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from recipes import Recipe

ROOT = Path(__file__).resolve().parents[2]
GOOS, GOARCH = "linux", "amd64"
# Go's own module and build caches, shared by every recipe and by tests.
GO_CACHE = Path(os.environ.get("K8S_INSTALL_GO_CACHE", "/var/cache/k8s-install/go"))
RECIPE_FORMAT = 1  # bump when the build steps change in a way the key would not see

Log = Callable[[str], None]


def go_env(cgo: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GOTOOLCHAIN="local",
        # The committed go.mod and go.sum are the lock files: the build never updates them.
        GOFLAGS="-mod=readonly",
        GOMODCACHE=str(GO_CACHE / "mod"),
        GOCACHE=str(GO_CACHE / "build"),
        GOPROXY=os.environ.get("GOPROXY", "https://proxy.golang.org"),
        CGO_ENABLED="1" if cgo else "0",
        GOOS=GOOS,
        GOARCH=GOARCH,
    )
    return env


def go_version() -> str:
    out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def cgo_toolchain() -> str:
    """The C toolchain a cgo build links with: gcc's version and libseccomp's (runc)."""
    gcc = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True, check=False)
    seccomp = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libseccomp-dev"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"gcc={gcc.stdout.strip() or 'none'} libseccomp-dev={seccomp.stdout.strip() or 'none'}"


def key(recipe: Recipe, gover: str) -> str:
    """Every input of the build: the recipe, the toolchain, the wrapper module's files (go.mod
    and go.sum, the lock files) and, for cgo, the C toolchain and libraries."""
    module = ROOT / recipe.module_dir
    digest = hashlib.sha256()
    digest.update(json.dumps(dataclasses.asdict(recipe), sort_keys=True).encode())
    digest.update(f"{gover} {GOOS}/{GOARCH} format={RECIPE_FORMAT}".encode())
    if recipe.cgo:
        digest.update(cgo_toolchain().encode())
    for name in sorted(p.name for p in module.iterdir() if p.is_file()):
        digest.update(name.encode() + b"\0" + (module / name).read_bytes())
    return digest.hexdigest()


def build(recipe: Recipe, cache: Path, log: Log) -> Path:
    """The directory with the recipe's binaries and its build.json; built on a miss."""
    gover = go_version()
    entry = cache / "bin" / f"{recipe.name}-{recipe.version}-{key(recipe, gover)[:16]}"
    if (entry / "build.json").is_file():
        log(f"{recipe.name} {recipe.version}: cached ({entry.name})")
        return entry
    tmp = entry.with_name(entry.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env = go_env(recipe.cgo) | recipe.env
    started = time.monotonic()
    for binary in recipe.binaries:
        log(f"{recipe.name} {recipe.version}: go build {binary.name}")
        cmd = ["go", "build", "-trimpath", "-buildvcs=false", *recipe.extra]
        if recipe.tags:
            cmd += ["-tags", recipe.tags]
        if recipe.ldflags:
            cmd += ["-ldflags", recipe.ldflags]
        cmd += ["-o", str(tmp / binary.name), binary.package]
        subprocess.run(cmd, cwd=ROOT / recipe.module_dir, env=env, check=True)
    record = {
        "recipe": dataclasses.asdict(recipe),
        "go": gover,
        "platform": f"{GOOS}/{GOARCH}",
        "cgo_toolchain": cgo_toolchain() if recipe.cgo else "",
        "seconds": round(time.monotonic() - started, 1),
    }
    (tmp / "build.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(entry, ignore_errors=True)
    tmp.rename(entry)
    return entry
