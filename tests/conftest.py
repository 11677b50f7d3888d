"""Fixtures shared by the fast suite, and the rule that CI runs every suite it exists for.

In CI (CI=true, as GitLab, GitHub Actions and most runners set it) a test of the engine,
cluster, addons or integration suites that would skip fails instead, with the skip's reason:
a suite that skipped did not run. On a developer's machine they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from chart_repo import ChartRepo, serve, sources_dir
from k8s_install.base.resources import sample_cluster

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A copy of the shipped sample cluster.yaml in an empty directory."""
    target = tmp_path / "cluster.yaml"
    shutil.copy(sample_cluster(), target)
    return target


@pytest.fixture
def localhost_inventory(tmp_path: Path) -> Path:
    """An inventory with one local host, using the Python that runs the tests."""
    import sys

    path = tmp_path / "hosts.yaml"
    path.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    return path


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """The real helm the rendering tests use; `make test` points K8S_INSTALL_HELM at it."""
    value = os.environ.get("K8S_INSTALL_HELM")
    if not value or not Path(value).is_file():
        pytest.skip("set K8S_INSTALL_HELM to a helm binary (see docs/addons.md, 'Tests')")
    return Path(value)


@pytest.fixture(scope="session")
def chart_repo(helm_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepo]:
    """The presets' real upstream charts, packaged and served as Helm repositories on loopback
    (tests/chart_repo.py). Needs K8S_INSTALL_CHART_SOURCES: fails in CI without it, skips
    elsewhere."""
    sources = sources_dir()
    with serve(helm_binary, sources, tmp_path_factory.mktemp("chart-repo")) as repo:
        yield repo


# Suites whose skip is a failure in CI: markers, plus the addons tests by file name.
CI_SUITES = ("engine", "cluster", "upgrade", "integration", "addons")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name.startswith("test_addons_"):
            item.add_marker(pytest.mark.addons)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    suites = [name for name in CI_SUITES if item.get_closest_marker(name)]
    if report.skipped and suites and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI, which fails the {'/'.join(suites)} suite: {reason}\n"
            "CI must run this suite: give it what the reason names (.ci/run sets it up)"
        )
