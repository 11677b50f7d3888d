"""What changes between two bundles: items added, removed and changed (version or content)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from k8s_install.bundle.manifest import Manifest


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


def diff(old: Manifest, new: Manifest) -> Diff:
    result = Diff()
    before, after = old.item_map(), new.item_map()
    for key in sorted(after.keys() - before.keys()):
        item = after[key]
        result.added.append({"kind": item.kind, "name": item.name, "version": item.version})
    for key in sorted(before.keys() - after.keys()):
        item = before[key]
        result.removed.append({"kind": item.kind, "name": item.name, "version": item.version})
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        if a.sha256 == b.sha256 and a.version == b.version:
            result.unchanged += 1
            continue
        result.changed.append(
            {
                "kind": b.kind,
                "name": b.name,
                "old_version": a.version,
                "new_version": b.version,
                "old_sha256": a.sha256,
                "new_sha256": b.sha256,
            }
        )
    old_files = {(p, e.sha256) for p, e in old.files.items()}
    result.added_bytes = sum(e.size for p, e in new.files.items() if (p, e.sha256) not in old_files)
    return result
