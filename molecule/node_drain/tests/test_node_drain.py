"""node_drain's refusal path (converge asserts the message): it changed nothing first."""

from __future__ import annotations

from typing import Any

import helpers


def test_refusal_changed_nothing(host: Any) -> None:
    assert helpers.files_changed_since_prepare(host) == []
