"""Read YAML keeping where each value came from, refusing duplicate keys, and keeping vault values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k8s_install.base.errors import InvalidInput, Problem

PathKey = tuple[str | int, ...]


class Vaulted(str):
    """An `!vault` value: ansible-vault ciphertext, never shown or decrypted by us."""


@dataclass
class Document:
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    source: str = ""

    def where(self, path: PathKey) -> str:
        """'file:line:col' for the closest known position of path."""
        while path and path not in self.marks:
            path = path[:-1]
        line, column = self.marks.get(path, (0, 0))
        return f"{self.source}:{line}:{column}" if line else self.source


def format_path(path: PathKey) -> str:
    """('nodes', 2, 'address') -> 'nodes[2].address'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


class _Loader(yaml.SafeLoader):
    pass


def _vault(loader: yaml.SafeLoader, node: yaml.Node) -> Vaulted:
    return Vaulted(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("!vault", _vault)


def _build(
    loader: _Loader, node: yaml.Node, path: PathKey, doc: Document, problems: list[Problem]
) -> Any:
    doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                problems.append(
                    Problem(
                        format_path((*path, key)),
                        f"duplicate key '{key}' (line {key_node.start_mark.line + 1}); "
                        "YAML would silently keep only the last one",
                        "remove or merge the duplicate",
                    )
                )
            result[key] = _build(loader, value_node, (*path, key), doc, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), doc, problems) for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def parse(text: str, source: str = "<string>") -> Document:
    """Parse one YAML document; syntax errors carry line and column."""
    doc = Document(data=None, source=source)
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            doc.data = _build(loader, root, (), doc, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        reason = exc.problem or str(exc)
        raise InvalidInput(
            f"{where}: invalid YAML: {reason}",
            [Problem(where, f"invalid YAML: {reason}", "fix the syntax at that line and column")],
        ) from None
    finally:
        loader.dispose()
    if problems:
        raise InvalidInput(f"{source}: duplicate keys", problems)
    return doc


def load(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(
            f"{path}: no such file",
            fix="give the cluster file with -c PATH, or create one with `k8s-install init DIR`",
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path}: not UTF-8 text ({exc.reason})", fix="save it as UTF-8"
        ) from None
    return parse(text, str(path))


class _Dumper(yaml.SafeDumper):
    pass


def _represent_vault(dumper: yaml.SafeDumper, data: Vaulted) -> yaml.Node:
    return dumper.represent_scalar("!vault", str(data), style="|")


_Dumper.add_representer(Vaulted, _represent_vault)


def dump(data: Any) -> str:
    """Deterministic YAML: sorted keys, block style, stable across runs."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
