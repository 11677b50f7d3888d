"""The engine's offline variables, set from cluster.yaml's offline: section (bundle work)."""

from __future__ import annotations

from typing import Any

from k8s_install.config import Cluster


def group_vars(cluster: Cluster) -> dict[str, Any]:
    return {}
