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


# The object every command prints on failure in --json mode, and the schemas that are parts of
# others rather than a command's output; those are published as they are, without the error.
ERROR = "error"
PARTS = frozenset({ERROR, "run-record", "run-events", "run-result"})


def error_document(message: str, fix: str, exit_code: int, problems: list[Any]) -> dict[str, Any]:
    """The --json error object (schema: error.json)."""
    return {"error": message, "fix": fix, "exit_code": exit_code, "problems": problems}


def load(command: str) -> dict[str, Any]:
    """The published schema of command's --json output: its document, or the error object."""
    data = _raw(command)
    name = file_name(command)[:-5]
    if name in PARTS:
        return data
    head: dict[str, Any] = {k: data[k] for k in ("$id", "$schema", "title") if k in data}
    body = {k: v for k, v in data.items() if k not in head and k != "description"}
    return {
        **head,
        "description": f"{data.get('description', '')} On failure: the error object "
        "(error.json).".strip(),
        "anyOf": [body, {"$ref": f"{ERROR}.json"}],
    }


def _raw(command: str) -> dict[str, Any]:
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
        schema = _raw(name)
        registry = registry.with_resource(
            schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)
        )
    return registry


def validator(command: str) -> Draft202012Validator:
    """A validator for the output of command; $refs to sibling schemas resolve locally."""
    return Draft202012Validator(load(command), registry=_registry())


def errors(command: str, document: Any) -> list[str]:
    """Where document breaks the schema of command's output (empty: it conforms).

    An object with an "error" key is checked as the error object, anything else as the
    command's own document, so the messages point at the field that is wrong.
    """
    name = file_name(command)[:-5]
    is_error = name not in PARTS and isinstance(document, dict) and "error" in document
    schema = _raw(ERROR if is_error else command)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in Draft202012Validator(schema, registry=_registry()).iter_errors(document)
    ]
