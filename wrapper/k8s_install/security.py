"""Secure-by-default engine settings, generated into group_vars (owned by the security work)."""

from __future__ import annotations

from typing import Any

from k8s_install.config import Cluster


def group_vars(cluster: Cluster) -> dict[str, Any]:
    return {}
