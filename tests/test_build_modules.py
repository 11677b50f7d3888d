"""The wrapper Go modules under build/ select exactly the dependency versions upstream pinned.

For each wrapper that requires upstream module U at tag T, every module U@T's own go.mod
requires must be selected at that very version: minimal version selection must not have raised
anything (which would build something upstream never tested). What U@T replaces with another
module version, the wrapper replaces the same way (a dependency's replaces do not apply), and
that version is the one selected. Each Kubernetes wrapper must also
replace all 29 staging modules at the matching v0.x tag, and nothing else. And every recipe of
every release set, and every test tool, builds from a wrapper that selects upstream at the recipe's version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from artifacts import recipes

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
GO_CACHE = Path(os.environ.get("K8S_INSTALL_GO_CACHE", "/var/cache/k8s-install/go"))
OWN = {"pause", "smoke"}  # our own programs: no upstream module to check against
WRAPPERS = sorted(p.parent.name for p in BUILD.glob("*/go.mod") if p.parent.name not in OWN)

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain on PATH")


def _go(args: list[str], cwd: Path) -> str:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod",
        GOMODCACHE=str(GO_CACHE / "mod"),
        GOCACHE=str(GO_CACHE / "build"),
    )
    proc = subprocess.run(
        ["go", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _selected(wrapper: Path) -> dict[str, str]:
    """module -> version the wrapper's build list selects (after replacements)."""
    out = _go(["list", "-m", "-e", "-json", "all"], wrapper)
    result = {}
    for block in re.split(r"(?<=\n})\n", out.strip()):
        mod = json.loads(block)
        version = (mod.get("Replace") or {}).get("Version") or mod.get("Version", "")
        result[mod["Path"]] = version
    return result


def _requires(gomod: str) -> dict[str, str]:
    """The require lines of a go.mod file, direct and indirect."""
    result = {}
    in_block = False
    for raw in gomod.splitlines():
        line = raw.partition("//")[0]
        line = line.strip()
        if line == "require (":
            in_block = True
            continue
        if in_block and line == ")":
            in_block = False
            continue
        if not in_block and not line.startswith("require "):
            continue
        words = line.removeprefix("require ").split()
        if len(words) == 2:
            result[words[0]] = words[1]
    return result


def _replaces(gomod: str) -> dict[str, str]:
    """module -> `target version` of each replace by another module version (not a directory)."""
    lines = re.findall(r"^replace (\S.*=>.*)$", gomod, re.M)
    for block in re.findall(r"^replace \(\n(.*?)^\)", gomod, re.M | re.S):
        lines += [line for line in block.splitlines() if "=>" in line]
    result = {}
    for line in lines:
        old, _, new = line.partition("//")[0].partition("=>")
        target = new.split()
        if len(target) == 2:
            result[old.split()[0]] = " ".join(target)
    return result


def _upstream_modules(gomod: str, selected: dict[str, str]) -> dict[str, str]:
    """The modules the wrapper's `tool` packages come from, at their selected versions."""
    block = re.search(r"^tool \(\n(.*?)^\)", gomod, re.M | re.S)
    tools = block.group(1).split() if block else re.findall(r"^tool (\S+)$", gomod, re.M)
    result = {}
    for tool in tools:
        owners = [m for m in selected if tool == m or tool.startswith(m + "/")]
        if owners:
            owner = max(owners, key=len)
            result[owner] = selected[owner]
    return result


def _upstream_gomod(path: str, version: str, wrapper: Path) -> str:
    info = json.loads(_go(["mod", "download", "-json", f"{path}@{version}"], wrapper))
    return Path(info["GoMod"]).read_text()


@pytest.mark.parametrize("name", WRAPPERS)
def test_wrapper_selects_upstream_pins(name: str) -> None:
    wrapper = BUILD / name
    selected = _selected(wrapper)
    direct = _upstream_modules((wrapper / "go.mod").read_text(), selected)
    assert direct, f"{name}: go.mod builds no tool from an upstream module"
    raised = []
    own_replaces = _replaces((wrapper / "go.mod").read_text())
    for module, version in direct.items():
        upstream = _upstream_gomod(module, version, wrapper)
        replaced = _replaces(upstream)
        for dep, target in replaced.items():
            if own_replaces.get(dep) != target:
                raised.append(f"{dep}: upstream {module}@{version} replaces it => {target}")
        for dep, pinned in _requires(upstream).items():
            if pinned == "v0.0.0":
                continue  # staging modules, replaced (see below)
            if dep in replaced:
                pinned = replaced[dep].split()[1]
            got = selected.get(dep)
            if got is not None and got != pinned:
                raised.append(f"{dep}: upstream {module}@{version} pins {pinned}, built with {got}")
    assert not raised, "\n".join(raised)


@pytest.mark.parametrize(
    ("name", "version", "staging_version"),
    [("kubernetes", "v1.35.4", "v0.35.4"), ("kubernetes-1.34", "v1.34.4", "v0.34.4")],
)
def test_kubernetes_replaces_every_staging_module(
    name: str, version: str, staging_version: str
) -> None:
    wrapper = BUILD / name
    text = (wrapper / "go.mod").read_text()
    upstream = _requires(_upstream_gomod("k8s.io/kubernetes", version, wrapper))
    staging = {m for m, v in upstream.items() if v == "v0.0.0"}
    replaced = dict(re.findall(r"^\s*(k8s\.io/\S+) => \S+ (v\S+)$", text, re.M))
    assert len(staging) == 29
    assert set(replaced) == staging
    assert set(replaced.values()) == {staging_version}


_ALL = {
    **{r.name: r for s in recipes.SETS.values() for r in s.components.values()},
    **{r.name: r for r in recipes.TOOLS},
}
SET_RECIPES = [r for name, r in sorted(_ALL.items()) if name not in OWN]


@pytest.mark.parametrize("recipe", SET_RECIPES, ids=lambda r: r.name)
def test_wrapper_builds_the_recipe_version(recipe: recipes.Recipe) -> None:
    wrapper = ROOT / recipe.module_dir
    selected = _selected(wrapper)
    direct = _upstream_modules((wrapper / "go.mod").read_text(), selected)
    assert direct
    assert set(direct.values()) == {f"v{recipe.version}"}
