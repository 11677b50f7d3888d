"""Checks of the addons: section (owned by the addons work; see issue 5)."""

from __future__ import annotations

from typing import Any

from k8s_install.errors import Problem


def problems(addons: dict[str, Any]) -> list[Problem]:
    return []
