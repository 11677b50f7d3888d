"""Fixtures shared by the fast suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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
