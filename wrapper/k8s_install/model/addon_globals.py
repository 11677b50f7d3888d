"""References from addon values to addons.globals: `${globals.path}`, resolved before rendering.

Syntax (docs/addons.md has the user-facing version):
- `${globals.a.b}` is the value at globals -> a -> b. Keys are letters, digits, '_' and '-'.
- A string that is exactly one reference takes the global's value with its type: a mapping,
  a list, a number or a boolean stays one.
- A reference inside a longer string is replaced by the global's text; that global must be a
  string, number or boolean ("https://${globals.domain}/x").
- `${globals.a:-fallback}` uses fallback when globals.a is not set. The fallback is read as
  YAML: `:-quay.io` is a string, `:-{}` an empty mapping, `:-3` a number, `:-` an empty string.
- `$${` writes a literal `${`.
- Globals themselves hold plain values, never references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from k8s_install.base.errors import Problem

PREFIX = "${globals."
_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MISSING = object()
FIX = "set it under addons.globals, or give a fallback: ${globals.NAME:-value}"


@dataclass(frozen=True)
class Reference:
    """One `${globals...}` in a string."""

    keys: tuple[str, ...]
    fallback: str | None  # the raw text after ':-', None without one

    @property
    def name(self) -> str:
        return "globals." + ".".join(self.keys)


Segment = str | Reference


class SyntaxProblem(ValueError):
    """A `${` that does not form a valid reference."""


def parse(text: str) -> list[Segment]:
    """Split text into literal strings and references; raises SyntaxProblem."""
    segments: list[Segment] = []
    literal = ""
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal += "${"
            i += 3
        elif text.startswith("${", i):
            end = _closing(text, i + 2)
            if end < 0:
                raise SyntaxProblem(f"'${{' at character {i} has no closing '}}'")
            if literal:
                segments.append(literal)
                literal = ""
            segments.append(_reference(text[i + 2 : end]))
            i = end + 1
        else:
            literal += text[i]
            i += 1
    if literal:
        segments.append(literal)
    return segments


def _closing(text: str, start: int) -> int:
    """Index of the '}' closing a '${' whose body starts at start (braces may nest)."""
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
    return -1


def _reference(body: str) -> Reference:
    path, sep, fallback = body.partition(":-")
    if not path.startswith("globals."):
        raise SyntaxProblem(f"'${{{body}}}' must start with 'globals.' (write $${{ for a literal)")
    keys = tuple(path[len("globals.") :].split("."))
    if not all(_KEY.fullmatch(k) for k in keys):
        raise SyntaxProblem(f"'${{{body}}}' is not a valid path: use keys joined by '.'")
    return Reference(keys, fallback if sep else None)


def escape(text: str) -> str:
    """The string that resolves to exactly text (every '${' doubled to '$${')."""
    return text.replace("${", "$${")


def has_references(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_references(v) for v in value.values())
    if isinstance(value, list):
        return any(has_references(v) for v in value)
    return False


def lookup(globals_: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The global at keys, or _MISSING."""
    node: Any = globals_
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _text(value: Any) -> str | None:
    """How a scalar global reads inside a longer string; None for mappings, lists and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


@dataclass
class Resolver:
    """Resolves references against one globals mapping, collecting problems with paths."""

    globals: dict[str, Any]
    used: set[str]

    def __init__(self, globals_: dict[str, Any]) -> None:
        self.globals = globals_
        self.used = set()

    def resolve(self, value: Any, path: str, problems: list[Problem], note: str = "") -> Any:
        """A copy of value with every reference replaced; problems name path (plus note)."""
        if isinstance(value, dict):
            return {
                k: self.resolve(v, f"{path}.{k}" if path else str(k), problems, note)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.resolve(v, f"{path}[{i}]", problems, note) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return self._string(value, path, problems, note)
        return value

    def _string(self, text: str, path: str, problems: list[Problem], note: str) -> Any:
        try:
            segments = parse(text)
        except SyntaxProblem as exc:
            problems.append(Problem(path, f"bad reference{note}: {exc}", FIX))
            return text
        if len(segments) == 1 and isinstance(segments[0], Reference):
            value = self._value(segments[0], path, problems, note)
            return None if value is _MISSING else value
        out = ""
        for segment in segments:
            if isinstance(segment, str):
                out += segment
                continue
            value = self._value(segment, path, problems, note)
            if value is _MISSING:
                continue
            text_value = _text(value)
            if text_value is None:
                problems.append(
                    Problem(
                        path,
                        f"{segment.name} is a {type(value).__name__} and cannot be embedded "
                        f"in a longer string{note}",
                        "make the whole value the reference, or point at a scalar global",
                    )
                )
                continue
            out += text_value
        return out

    def _value(self, ref: Reference, path: str, problems: list[Problem], note: str) -> Any:
        value = lookup(self.globals, ref.keys)
        if value is not _MISSING:
            self.used.add(ref.name)
            return value
        if ref.fallback is not None:
            return _fallback(ref.fallback)
        key = ".".join(ref.keys)
        fix = f"set addons.globals.{key}, or give a fallback: ${{{ref.name}:-VALUE}}"
        problems.append(Problem(path, f"{ref.name} is not set{note}", fix))
        return _MISSING


def _fallback(text: str) -> Any:
    if text == "":
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def resolve(value: Any, globals_: dict[str, Any], path: str = "") -> tuple[Any, list[Problem]]:
    """Resolve every reference in value; returns the copy and the problems (empty when fine)."""
    problems: list[Problem] = []
    return Resolver(globals_).resolve(value, path, problems), problems


def globals_problems(globals_: Any, path: str = "addons.globals") -> list[Problem]:
    """Globals hold plain values: a reference there is reported."""
    problems: list[Problem] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, str) and "${" in value:
            problems.append(
                Problem(
                    where,
                    "globals cannot reference other globals",
                    "write the value itself here; references belong in release values",
                )
            )

    walk(globals_, path)
    return problems
