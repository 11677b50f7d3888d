"""A shipped module is never optional: no import may fail silently and degrade a command."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import k8s_install
from k8s_install.addons import drift as addons_drift
from k8s_install.addons import images
from k8s_install.base.errors import K8sInstallError
from k8s_install.bundle import download_list
from k8s_install.checks import drift
from k8s_install.lifecycle import apply
from k8s_install.model.config import Cluster
from k8s_install.records import runs

PACKAGE = Path(k8s_install.__file__).parent
# commands/__init__.py loads the command modules by name on purpose, and lets any error raise.
DYNAMIC_LOADER = PACKAGE / "commands" / "__init__.py"


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_error_is_swallowed(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
            assert not names & {"ImportError", "ModuleNotFoundError"}, f"line {node.lineno}"
        if isinstance(node, ast.Attribute) and node.attr == "import_module":
            assert path == DYNAMIC_LOADER, f"line {node.lineno}: import our modules at the top"


def test_the_former_fallbacks_use_the_modules_directly() -> None:
    assert apply.runs is runs
    assert drift.addons_drift is addons_drift
    assert download_list.addon_image_list is images


def test_addon_drift_reports_why_it_could_not_compare(
    sample_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = Cluster(spec={}, path=sample_copy, nodes=())
    rendered = sample_copy.parent / "rendered" / "addons" / "x"
    rendered.mkdir(parents=True)
    (rendered / "manifest.yaml").write_text("---\n")

    def no_api(_cluster: Cluster) -> list[dict[str, object]]:
        raise K8sInstallError("no kubeconfig")

    monkeypatch.setattr(addons_drift, "detect", no_api)
    releases, notes = drift.addon_drift(cluster)
    assert releases == [] and notes == ["addon releases were not compared: no kubeconfig"]
