"""preflight on a clean host (converge asserts nothing was reported): it changed nothing."""

from __future__ import annotations

from typing import Any

import helpers


def test_nothing_changed(host: Any) -> None:
    assert helpers.files_changed_since_prepare(host) == []
