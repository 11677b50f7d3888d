"""The built-in presets: data files under data/addons/presets/, one YAML file per addon.

A preset names a chart of a Helm repository (`chart` with `repo`), or one of the small charts
shipped with k8s-install under data/addons/charts/ (`chart: builtin://NAME`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
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
    requires: tuple[str, ...] = ()  # releases (by name or preset) that must be enabled too
    deprecated: str = ""  # why validate warns about it
    replacement: str = ""  # the preset to use instead
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "chart": self.chart,
            "repo": self.repo,
            "version": self.version,
            "namespace": self.namespace,
            "depends_on": list(self.depends_on),
            "deprecated": self.deprecated,
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
            requires=tuple(data.get("requires") or ()),
            deprecated=" ".join(str(data.get("deprecated") or "").split()),
            replacement=str(data.get("replacement") or ""),
            namespace_labels={
                str(k): str(v) for k, v in (data.get("namespace_labels") or {}).items()
            },
        )
    return found


def get(name: str) -> Preset:
    return presets()[name]


BUILTIN = "builtin://"


def builtin_charts_dir() -> Path:
    return data_dir("data") / "addons" / "charts"


def builtin_chart(reference: str) -> Path | None:
    """The shipped chart directory a `builtin://NAME` reference names, or None."""
    name = reference.removeprefix(BUILTIN)
    if not name or "/" in name or name.startswith("."):
        return None
    path = builtin_charts_dir() / name
    return path if (path / "Chart.yaml").is_file() else None


def builtin_names() -> list[str]:
    return sorted(p.name for p in builtin_charts_dir().iterdir() if (p / "Chart.yaml").is_file())
