"""What changes between two bundles: items added, removed and changed (version or content).

Items are matched by kind and name; a change is a new version, new content or a new source (a
local build replacing upstream's file). One version on each side is a change (an upgrade); when a
bundle holds several versions of one name (two tags of an image), versions are matched
one to one and the rest are additions or removals.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from k8s_install.bundle.manifest import Item, Manifest


@dataclass
class Diff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    added_bytes: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "added_bytes": self.added_bytes,
        }


def _grouped(manifest: Manifest) -> dict[tuple[str, str], dict[str, Item]]:
    groups: dict[tuple[str, str], dict[str, Item]] = defaultdict(dict)
    for item in manifest.items:
        groups[(item.kind, item.name)][item.version] = item
    return groups


def _short(item: Item) -> dict[str, Any]:
    return {"kind": item.kind, "name": item.name, "version": item.version}


def _change(a: Item, b: Item) -> dict[str, Any]:
    return {
        "kind": b.kind,
        "name": b.name,
        "old_version": a.version,
        "new_version": b.version,
        "old_sha256": a.sha256,
        "new_sha256": b.sha256,
        "old_source": a.source,
        "new_source": b.source,
        "new_is_local": b.is_local,
    }


def diff(old: Manifest, new: Manifest) -> Diff:
    result = Diff()
    before, after = _grouped(old), _grouped(new)
    for key in sorted(before.keys() | after.keys()):
        olds, news = before.get(key, {}), after.get(key, {})
        for version in sorted(olds.keys() & news.keys()):
            if (olds[version].sha256, olds[version].source) == (
                news[version].sha256,
                news[version].source,
            ):
                result.unchanged += 1
            else:
                result.changed.append(_change(olds[version], news[version]))
        gone = [olds[v] for v in sorted(olds.keys() - news.keys())]
        came = [news[v] for v in sorted(news.keys() - olds.keys())]
        if len(gone) == 1 and len(came) == 1:
            result.changed.append(_change(gone[0], came[0]))
            continue
        result.removed += [_short(i) for i in gone]
        result.added += [_short(i) for i in came]
    old_files = {(p, e.sha256) for p, e in old.files.items()}
    result.added_bytes = sum(e.size for p, e in new.files.items() if (p, e.sha256) not in old_files)
    return result
