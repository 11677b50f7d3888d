"""Where the shipped playbooks, roles and sample inventory live, via importlib.resources."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_DATA_PACKAGES = {
    "playbooks": "k8s_install.playbooks",
    "roles": "k8s_install.roles",
    "inventory": "k8s_install.inventories",
    "data": "k8s_install",
}


def data_dir(kind: str) -> Path:
    """The on-disk directory of a shipped tree: playbooks, roles, inventory or data."""
    package = _DATA_PACKAGES[kind]
    traversable = files(package)
    if kind == "data":
        traversable = traversable / "data"
    if not isinstance(traversable, Path):
        raise RuntimeError(f"k8s-install must be installed unpacked; {package} is not on disk")
    return traversable


def playbook(name: str) -> Path:
    path = data_dir("playbooks") / name
    if not path.is_file():
        raise FileNotFoundError(f"playbook {name} is not shipped with k8s-install")
    return path


def sample_cluster() -> Path:
    return data_dir("inventory") / "sample" / "cluster.yaml"
