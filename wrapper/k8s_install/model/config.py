"""The cluster.yaml model: load, validate, and apply defaults."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8s_install.base.errors import InvalidInput
from k8s_install.model import schema, yamlfile
from k8s_install.model.schema import CLUSTER_SCHEMA, TOP_LEVEL_KEYS
from k8s_install.model.validate import problems_in


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    roles: tuple[str, ...]
    internal_address: str | None = None
    ssh_user: str = "root"
    ssh_port: int = 22
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[str, ...] = ()

    @property
    def ip(self) -> str:
        return self.internal_address or self.address

    @property
    def is_control_plane(self) -> bool:
        return "control-plane" in self.roles

    @property
    def is_etcd(self) -> bool:
        return "etcd" in self.roles

    @property
    def is_worker(self) -> bool:
        return "worker" in self.roles


@dataclass(frozen=True)
class Cluster:
    """A validated cluster.yaml with defaults filled in. `spec` is the full, defaulted document."""

    spec: dict[str, Any]
    path: Path
    nodes: tuple[Node, ...]
    # Not from cluster.yaml: the engine's checksum variables taken from the signed manifest of
    # offline.bundle ({"kubelet_binary_checksum": "sha256:..."}), for 20-offline.yml. Filled by
    # bundle/offline_checksums.py `attach` for every command that writes the inventory; empty
    # without an offline bundle.
    offline_checksums: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def kubernetes_version(self) -> str:
        return str(self.spec["kubernetes"]["version"]).lstrip("v")

    @property
    def engine_release(self) -> str:
        return str(self.spec["engine"]["release"])

    @property
    def root(self) -> Path:
        """The cluster repository: the directory holding cluster.yaml."""
        return self.path.resolve().parent

    def section(self, name: str) -> dict[str, Any]:
        value = self.spec.get(name) or {}
        assert isinstance(value, dict)
        return value

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def control_planes(self) -> list[Node]:
        return [n for n in self.nodes if n.is_control_plane]

    @property
    def etcd_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.is_etcd]

    def digest(self) -> str:
        """sha256 of the defaulted spec: the identity of what would be applied."""
        canonical = json.dumps(self.spec, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


DEFAULTS: dict[str, Any] = schema.defaults(CLUSTER_SCHEMA)


def _merge(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    return _merge(DEFAULTS, data)


def _nodes(spec: dict[str, Any]) -> tuple[Node, ...]:
    access = spec["access"]
    return tuple(
        Node(
            name=n["name"],
            address=str(n["address"]),
            roles=tuple(n["roles"]),
            internal_address=n.get("internal_address"),
            ssh_user=n.get("ssh_user", access["user"]),
            ssh_port=int(n.get("ssh_port", access["port"])),
            labels=dict(n.get("labels", {})),
            taints=tuple(n.get("taints", [])),
        )
        for n in spec["nodes"]
    )


def from_document(doc: yamlfile.Document, path: Path) -> Cluster:
    """Validate a parsed document and build the model; raises InvalidInput with every problem."""
    problems = problems_in(doc)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(f"{path}: {len(errors)} problem(s)", problems)
    spec = with_defaults(doc.data)
    return Cluster(spec=spec, path=path, nodes=_nodes(spec))


def load(path: Path) -> Cluster:
    """Read, validate and default a cluster.yaml. Never contacts a host."""
    return from_document(yamlfile.load(path, TOP_LEVEL_KEYS), path)
