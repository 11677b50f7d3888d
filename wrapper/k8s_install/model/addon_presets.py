"""The built-in presets: data files under data/addons/presets/, one YAML file per addon."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from k8s_install.base.resources import data_dir


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    chart: str
    repo: str
    version: str
    namespace: str
    depends_on: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "chart": self.chart,
            "repo": self.repo,
            "version": self.version,
            "namespace": self.namespace,
            "depends_on": list(self.depends_on),
        }


@cache
def presets() -> dict[str, Preset]:
    """Every preset by name, read once from the shipped data files."""
    found: dict[str, Preset] = {}
    for path in sorted((data_dir("data") / "addons" / "presets").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        found[path.stem] = Preset(
            name=path.stem,
            description=str(data.get("description", "")),
            chart=str(data["chart"]),
            repo=str(data.get("repo", "")),
            version=str(data["version"]),
            namespace=str(data["namespace"]),
            depends_on=tuple(data.get("depends_on") or ()),
            values=dict(data.get("values") or {}),
        )
    return found


def get(name: str) -> Preset:
    return presets()[name]
