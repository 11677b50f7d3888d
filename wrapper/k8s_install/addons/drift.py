"""Addon drift for `k8s-install drift`: each rendered release, in-sync or drifted, from helm."""

from __future__ import annotations

from typing import Any

from k8s_install.addons import diff, helm
from k8s_install.model.config import Cluster


def detect(cluster: Cluster) -> list[dict[str, Any]]:
    """One entry per rendered release; raises K8sInstallError without a kubeconfig or API."""
    config = diff.kubeconfig(cluster.root)
    binary = helm.default(helm.bundle_dir(cluster))
    return [d.as_dict() for d in diff.diff_all(cluster.root, binary, config)]
