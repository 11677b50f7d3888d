"""Facts about each pinned engine release, generated from the engine's own checksum data.

The files in data/engines/ are written by `k8s-install engine lock` from a Kubespray
checkout; they are never edited by hand. They let `validate` work with no engine present.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from k8s_install.base.resources import data_dir

DEFAULT_RELEASE = "v2.31.0"


@cache
def lock(release: str) -> dict[str, Any]:
    if release not in releases():  # never a path built from what a user wrote
        raise KeyError(release)
    path = data_dir("data") / "engines" / f"{release}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def releases() -> list[str]:
    return sorted(p.stem for p in (data_dir("data") / "engines").glob("*.json"))
