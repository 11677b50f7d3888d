"""The JSON Schemas of every command's --json output, shipped in data/schemas/<command>.json.

`k8s-install schema --output-of COMMAND` prints one. A sub-command's file joins the words with
'-' ("sandbox status" -> sandbox-status.json). Schemas refer to each other by relative $ref.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from k8s_install.base import resources
from k8s_install.base.errors import InvalidInput


def directory() -> Path:
    return resources.data_dir("data") / "schemas"


def names() -> list[str]:
    """Every published schema name (commands, plus run-record and run-events)."""
    return sorted(p.stem for p in directory().glob("*.json"))


def file_name(command: str) -> str:
    return "-".join(command.split()) + ".json"


def load(command: str) -> dict[str, Any]:
    path = directory() / file_name(command)
    if not path.is_file():
        raise InvalidInput(
            f"no published schema for the output of '{command}'",
            fix="one of: " + ", ".join(names()),
        )
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def _registry() -> Registry:
    registry: Registry = Registry()
    for name in names():
        schema = load(name)
        registry = registry.with_resource(
            schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)
        )
    return registry


def validator(command: str) -> Draft202012Validator:
    """A validator for the output of command; $refs to sibling schemas resolve locally."""
    return Draft202012Validator(load(command), registry=_registry())


def errors(command: str, document: Any) -> list[str]:
    """Where document breaks the schema of command's output (empty: it conforms)."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator(command).iter_errors(document)
    ]
