"""The config reference in docs/, generated from the JSON Schema so the two never disagree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from k8s_install.model.schema import CLUSTER_SCHEMA

HEADER = """# cluster.yaml reference

Generated from the JSON Schema by `k8s-install schema --format markdown`; do not edit.
Unknown keys are errors. `k8s-install validate` checks a file against this and more.

| field | type | default | description |
| --- | --- | --- | --- |
"""


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(kind)


def _rows(schema: dict[str, Any], prefix: str) -> Iterator[str]:
    required = set(schema.get("required", []))
    for name, child in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        default = f"`{json.dumps(child['default'])}`" if "default" in child else ""
        mark = " (required)" if name in required else ""
        description = child.get("description", "").replace("|", "\\|")
        yield f"| `{path}` | {_type(child)}{mark} | {default} | {description} |\n"
        if child.get("type") == "object":
            yield from _rows(child, f"{path}.")
        items = child.get("items", {})
        if child.get("type") == "array" and items.get("type") == "object":
            yield from _rows(items, f"{path}[].")


def markdown() -> str:
    return HEADER + "".join(_rows(CLUSTER_SCHEMA, ""))
