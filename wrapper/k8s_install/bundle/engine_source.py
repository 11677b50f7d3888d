"""Where an offline bundle keeps the engine release (bundle work, issue 6)."""

from __future__ import annotations

from pathlib import Path

from k8s_install.config import Cluster


def engine_archive(cluster: Cluster) -> Path | None:
    """The engine tarball inside the cluster's offline bundle, or None without a bundle."""
    return None
