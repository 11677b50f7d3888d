"""Helm's multi-document YAML in a canonical form: sorted keys, Secret data redacted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from k8s_install.model import yamlfile

REDACTED = "(redacted by k8s-install: Secret data never goes into Git)"
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when PyYAML has it: a chart's CRDs run to 100,000 lines),
    reading YAML 1.1's `=` value tag as the string it is in Kubernetes (CRDs list `=` among the
    match operators of an enum)."""


Loader.add_constructor("tag:yaml.org,2002:value", Loader.construct_yaml_str)


@dataclass(frozen=True)
class Doc:
    source: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def key(self) -> tuple[str, str, str, str]:
        meta = self.body.get("metadata") or {}
        return (
            str(self.body.get("apiVersion", "")),
            self.kind,
            str(meta.get("namespace", "")) if isinstance(meta, dict) else "",
            str(meta.get("name", "")) if isinstance(meta, dict) else "",
        )


def parse(text: str) -> list[Doc]:
    """Every non-empty document, in order, with the template it came from."""
    docs: list[Doc] = []
    for chunk in _SEPARATOR.split(text):
        match = _SOURCE.search(chunk)
        body = yaml.load(chunk, Loader=Loader)
        if isinstance(body, dict) and body:
            docs.append(Doc(match.group(1).strip() if match else "", redact(body)))
    return docs


def redact(body: Any) -> Any:
    """Every Secret, however deep (a List's items, any wrapper kind), keeps its keys; its values
    are replaced, so no secret reaches Git. Anything that says `kind: Secret` counts."""
    if isinstance(body, list):
        return [redact(item) for item in body]
    if not isinstance(body, dict):
        return body
    result = {key: redact(value) for key, value in body.items()}
    if result.get("kind") == "Secret":
        for field in ("data", "stringData"):
            value = result.get(field)
            if isinstance(value, dict):
                result[field] = {k: REDACTED for k in value}
            elif value is not None:
                result[field] = REDACTED
    return result


def dump(docs: list[Doc]) -> str:
    """Canonical text: the same documents always give the same bytes."""
    parts = []
    for doc in docs:
        head = f"---\n# Source: {doc.source}\n" if doc.source else "---\n"
        parts.append(head + yamlfile.dump(doc.body))
    return "".join(parts)


def canonical(text: str) -> str:
    return dump(parse(text))


def walk(value: Any) -> Iterator[tuple[str, Any, Any]]:
    """(key, value, parent) for every mapping entry, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item, value
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
