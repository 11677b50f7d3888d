"""Read YAML keeping where each value came from, refusing duplicate keys, and keeping vault values.

Parsing is bounded: a file size cap, a count of values after alias expansion, a nesting depth
and a number length, so a hostile file ends in exit 2, never in a hang or a traceback.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k8s_install.base.errors import InvalidInput, Problem, shown

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
            name = shown(str(part), 64)
            text += f".{name}" if text else name
    return text or "(top level)"


# Limits that keep parsing bounded in time and memory whatever the file holds. A 1,000-node
# cluster.yaml (labels and taints on every node) is 0.2 MiB and 18,000 values, so 5,000 nodes,
# Kubernetes' own limit, fit; bench/bench_validate_hostile.py measures both sides.
MAX_BYTES = 1 << 20
MAX_VALUES = 100_000  # values after alias expansion: an alias bomb stops here
MAX_ALIASES = 10_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 32

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MERGE = "tag:yaml.org,2002:merge"
_MAP_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map"})
_SEQ_TAGS = frozenset({None, "!", "tag:yaml.org,2002:seq"})
VAULT_TAG = "!vault"
_VAULT_HEADER = re.compile(r"\$ANSIBLE_VAULT;[0-9]+\.[0-9]+;[A-Za-z0-9_]+(;[^;\s]+)?")
_HEX = re.compile(r"[0-9a-fA-F]+")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser where available (fast, and it caps nesting itself); events only."""


def is_vault_ciphertext(text: str) -> bool:
    """Whether text is ansible-vault output: the $ANSIBLE_VAULT header, then hex lines."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return (
        len(lines) > 1
        and bool(_VAULT_HEADER.fullmatch(lines[0]))
        and all(_HEX.fullmatch(line) for line in lines[1:])
    )


def _at(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


class _Anchor:
    __slots__ = ("size", "value")

    def __init__(self, value: Any, size: int) -> None:
        self.value = value
        self.size = size


class _Builder:
    """Builds plain data from the parser's events, counting every value as it goes.

    Working from events (not a composed node graph) keeps memory linear in the file, and lets
    an alias bomb be refused at MAX_VALUES before it is expanded. An alias shares its anchor's
    value, as PyYAML does, but counts its full size. Keys are the text written in the file.
    """

    def __init__(self, loader: _Loader, doc: Document, problems: list[Problem]) -> None:
        self.loader = loader
        self.doc = doc
        self.problems = problems
        self.anchors: dict[str, _Anchor | None] = {}
        self.values = 0
        self.aliases = 0

    def _refuse(self, mark: Any, message: str, fix: str) -> InvalidInput:
        line, column = _at(mark)
        where = f"{self.doc.source}:{line}:{column}"
        return InvalidInput(f"{where}: {message}", [Problem(where, message, fix)])

    def _problem(self, path: PathKey, message: str, fix: str) -> None:
        self.problems.append(Problem(format_path(path), message, fix))

    def _count(self, size: int, mark: Any) -> None:
        self.values += size
        if self.values > MAX_VALUES:
            message = f"the file expands to more than {MAX_VALUES} values"
            if self.aliases:
                message += " through YAML aliases (an alias bomb?)"
            raise self._refuse(mark, message, "write the values out; remove the alias chains")

    def node(self, path: PathKey, depth: int) -> tuple[Any, int]:
        """The next value and how many values it stands for."""
        event = self.loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event)
        if depth > MAX_DEPTH:
            raise self._refuse(
                event.start_mark, f"nested deeper than {MAX_DEPTH} levels", "flatten the file"
            )
        self.doc.marks.setdefault(path, _at(event.start_mark))
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.anchors[anchor] = None  # being built: an alias to it now is recursive
        if isinstance(event, yaml.ScalarEvent):
            self._count(1, event.start_mark)
            value, size = self._scalar(event, path), 1
        elif isinstance(event, yaml.SequenceStartEvent):
            value, size = self._sequence(event, path, depth)
        elif isinstance(event, yaml.MappingStartEvent):
            value, size = self._mapping(event, path, depth)
        else:  # pragma: no cover - the parser only yields nodes here
            raise self._refuse(event.start_mark, "unexpected YAML structure", "fix the syntax")
        if anchor is not None:
            self.anchors[anchor] = _Anchor(value, size)
        return value, size

    def _alias(self, event: yaml.AliasEvent) -> tuple[Any, int]:
        name = str(event.anchor)
        if name not in self.anchors:
            raise self._refuse(
                event.start_mark,
                f"alias '*{shown(name, 40)}' has no anchor before it",
                "define '&name' before using '*name'",
            )
        anchor = self.anchors[name]
        if anchor is None:
            raise self._refuse(
                event.start_mark,
                f"alias '*{shown(name, 40)}' is used inside its own anchor",
                "a value cannot contain itself",
            )
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self._refuse(
                event.start_mark,
                f"more than {MAX_ALIASES} YAML aliases",
                "write the values out; remove the alias chains",
            )
        self._count(anchor.size, event.start_mark)
        return anchor.value, anchor.size

    def _scalar(self, event: yaml.ScalarEvent, path: PathKey) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        value = event.value
        if tag == _STR:
            return value
        if tag == VAULT_TAG:
            if not is_vault_ciphertext(value):
                self._problem(
                    path,
                    "the !vault value is not ansible-vault ciphertext",
                    "paste the whole output of `ansible-vault encrypt_string`, from its "
                    "$ANSIBLE_VAULT;1.1;AES256 line on",
                )
            return Vaulted(value)
        if tag == _INT and len(value) > MAX_INT_DIGITS:
            self._problem(
                path,
                f"a number of {len(value)} characters (at most {MAX_INT_DIGITS})",
                "give a number of ordinary size",
            )
            return None
        constructor = self.loader.yaml_constructors.get(tag)
        if constructor is None:
            self._problem(path, f"unknown YAML tag '{shown(tag, 40)}'", "remove the tag")
            return None
        node = yaml.ScalarNode(tag, value, None, None, event.style)
        try:
            return constructor(self.loader, node)
        except Exception:  # an explicit tag on text that is not of that type (!!bool x, ...)
            kind = tag.rsplit(":", 1)[-1]
            self._problem(
                path, f"'{shown(value)}' is not a valid {kind}", "fix the value, or quote it"
            )
            return None

    def _collection_tag(self, event: Any, allowed: frozenset[str | None], path: PathKey) -> None:
        if event.tag in allowed:
            return
        kind = "mapping" if allowed is _MAP_TAGS else "list"
        if event.tag == VAULT_TAG:
            self._problem(
                path,
                f"!vault is on a {kind}; it takes one encrypted string",
                "encrypt the value with `ansible-vault encrypt_string` and paste it as a "
                "!vault | block",
            )
        else:
            self._problem(
                path,
                f"the YAML tag '{shown(event.tag, 40)}' is not supported on a {kind}",
                "remove the tag",
            )

    def _sequence(self, event: Any, path: PathKey, depth: int) -> tuple[list[Any], int]:
        self._count(1, event.start_mark)
        self._collection_tag(event, _SEQ_TAGS, path)
        items: list[Any] = []
        size = 1
        while not self.loader.check_event(yaml.SequenceEndEvent):
            value, count = self.node((*path, len(items)), depth + 1)
            items.append(value)
            size += count
        self.loader.get_event()
        return items, size

    def _key(self, path: PathKey, depth: int) -> str | None:
        """The next key: its text, _MERGE for '<<', None for a key that is not a plain value."""
        event = self.loader.peek_event()
        if isinstance(event, yaml.ScalarEvent):
            self.loader.get_event()
            self._count(1, event.start_mark)
            tag = event.tag
            if tag is None and event.implicit[0]:
                tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            if event.anchor is not None:
                self.anchors[event.anchor] = _Anchor(str(event.value), 1)
            return _MERGE if tag == _MERGE else str(event.value)
        value, _size = self.node((*path, "<key>"), depth + 1)
        if isinstance(value, str):
            return value
        self._problem(
            path,
            "a key is a mapping or a list; keys must be plain values",
            "write the key as plain text",
        )
        return None

    def _mapping(self, event: Any, path: PathKey, depth: int) -> tuple[dict[str, Any], int]:
        self._count(1, event.start_mark)
        self._collection_tag(event, _MAP_TAGS, path)
        result: dict[str, Any] = {}
        merged: list[dict[str, Any]] = []
        size = 1
        while not self.loader.check_event(yaml.MappingEndEvent):
            mark = self.loader.peek_event().start_mark
            key = self._key(path, depth)
            if key is _MERGE:
                value, count = self.node((*path, "<<"), depth + 1)
                sources = value if isinstance(value, list) else [value]
                if not all(isinstance(source, dict) for source in sources):
                    self._problem(
                        path,
                        "a merge key '<<' takes a mapping or a list of mappings",
                        "merge an anchored mapping: <<: *defaults",
                    )
                else:
                    merged += sources
                size += count
                continue
            if key is None:
                size += self.node((*path, "<value>"), depth + 1)[1]
                continue
            if key in result:
                self._problem(
                    (*path, key),
                    f"duplicate key '{shown(key)}' (line {mark.line + 1}); "
                    "YAML would silently keep only the last one",
                    "remove or merge the duplicate",
                )
            value, count = self.node((*path, key), depth + 1)
            result[key] = value
            size += count
        self.loader.get_event()
        # Explicit keys win over merged ones; of the merged mappings, the first to name a key wins.
        for source in merged:
            for name, value in source.items():
                result.setdefault(name, value)
        return result, size


def parse(
    text: str,
    source: str = "<string>",
    *,
    mapping: bool = False,
    expect: Sequence[str] = (),
) -> Document:
    """Parse one YAML document; syntax errors carry line and column. Bounded in time and memory.

    With mapping, a document that is not a mapping (a list, or text such as a system file) is
    refused at its first event, before any of it is built, and nothing of it is quoted. With
    expect, a mapping with none of those top-level keys is refused the same way, before any
    problem in it (a duplicate key, say) would quote its keys.
    """
    doc = Document(data=None, source=source)
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        loader.get_event()  # stream start
        if not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # document start
            first = loader.peek_event()
            if mapping and not isinstance(first, yaml.MappingStartEvent | yaml.AliasEvent):
                kind = "a list" if isinstance(first, yaml.SequenceStartEvent) else "text"
                if not (isinstance(first, yaml.ScalarEvent) and first.value in ("", "~", "null")):
                    message = f"the file must be a mapping of settings, not {kind}"
                    raise InvalidInput(
                        f"{source}: {message}",
                        [Problem(source, message, "start from `k8s-install init` or the sample")],
                    )
            doc.data, _size = _Builder(loader, doc, problems).node((), 0)
            loader.get_event()  # document end
            if not loader.check_event(yaml.StreamEndEvent):
                event = loader.peek_event()
                where = f"{source}:{event.start_mark.line + 1}:{event.start_mark.column + 1}"
                message = "a second YAML document; the file must hold exactly one"
                raise InvalidInput(
                    f"{where}: {message}",
                    [Problem(where, message, "remove the '---' and what follows")],
                )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        reason = _reason(exc.problem or exc.context or "syntax error")
        raise InvalidInput(
            f"{where}: invalid YAML: {reason}",
            [Problem(where, f"invalid YAML: {reason}", "fix the syntax at that line and column")],
        ) from None
    except yaml.YAMLError as exc:  # the reader: characters YAML does not allow
        position = getattr(exc, "position", None)
        where = f"{source}: character {position}" if position is not None else source
        reason = "a character YAML does not allow (a control character or NUL)"
        raise InvalidInput(
            f"{where}: not YAML text: {reason}",
            [Problem(where, f"not YAML text: {reason}", "save the file as plain UTF-8 text")],
        ) from None
    finally:
        loader.dispose()
    if expect and isinstance(doc.data, dict) and not any(key in doc.data for key in expect):
        message = (
            "not a cluster definition: it has none of the top-level keys k8s-install reads "
            f"({', '.join(expect[:3])}, ...)"
        )
        fix = "point at a cluster.yaml (start one with `k8s-install init DIR`)"
        raise InvalidInput(f"{source}: {message}", [Problem(source, message, fix)])
    if problems:
        raise InvalidInput(f"{source}: {len(problems)} problem(s) in the YAML", problems)
    return doc


def _reason(problem: str) -> str:
    """PyYAML's reason, with any text quoted from the file cut short."""
    return shown(re.sub(r"'([^']{20,})'", lambda m: f"'{shown(m.group(1), 20)}'", problem), 120)


def _refuse_file(path: Path, message: str, fix: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}", [Problem(str(path), message, fix)])


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """A regular file's UTF-8 text, at most `limit` bytes; devices, FIFOs and huge files refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _refuse_file(
            path,
            "no such file",
            "give the cluster file with -c PATH, or create one with `k8s-install init DIR`",
        ) from None
    except OSError as exc:
        raise _refuse_file(path, f"cannot be read ({exc.strerror})", "check the path") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _refuse_file(path, "is a directory", "give the path of a file")
        if not stat.S_ISREG(mode):
            raise _refuse_file(path, "is not a regular file", "give the path of a file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise _refuse_file(path, f"cannot be read ({exc.strerror})", "check the path") from None
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise _refuse_file(
            path,
            f"larger than {limit // 1024} KiB; not a cluster definition",
            "point at the cluster.yaml",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse_file(path, f"not UTF-8 text ({exc.reason})", "save it as UTF-8") from None


def load(path: Path, expect: Sequence[str] = ()) -> Document:
    """A YAML file whose top level is a mapping (or empty); see parse and read_text."""
    return parse(read_text(path), str(path), mapping=True, expect=expect)


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
