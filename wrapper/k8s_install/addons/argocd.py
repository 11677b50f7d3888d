"""Argo CD Applications for the rendered addons (`addons render --argocd`).

rendered/addons/argocd/root.yaml          an app-of-apps: syncs rendered/addons/argocd/apps/
rendered/addons/argocd/apps/<release>.yaml one Application per release, syncing
                                          rendered/addons/<release>/manifest.yaml
The install waves become Argo CD sync waves, so dependencies are honoured there too.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from k8s_install.addons.render import HEADER, RENDERED, Rendered
from k8s_install.base.errors import InvalidInput
from k8s_install.model import yamlfile
from k8s_install.records import git_repo

NAMESPACE = "argocd"
DESTINATION = "https://kubernetes.default.svc"


def repo_url(root: Path) -> str | None:
    """The cluster repo's origin URL, if it has one."""
    url = git_repo.git(root, "remote", "get-url", "origin", check=False).strip()
    return url or None


def repo_prefix(root: Path) -> PurePosixPath:
    """Where the cluster repo root sits inside its Git repository ('' at the top)."""
    prefix = git_repo.git(root, "rev-parse", "--show-prefix", check=False).strip()
    return PurePosixPath(prefix) if prefix else PurePosixPath()


def application(item: Rendered, url: str, revision: str, base: PurePosixPath) -> dict[str, Any]:
    release = item.release
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": release.name,
            "namespace": NAMESPACE,
            "annotations": {"argocd.argoproj.io/sync-wave": str(item.wave)},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            "labels": {"app.kubernetes.io/managed-by": "k8s-install"},
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": url,
                "targetRevision": revision,
                "path": str(base / release.name),
                "directory": {"include": "manifest.yaml"},
            },
            "destination": {"server": DESTINATION, "namespace": release.namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
            },
        },
    }


def root_application(url: str, revision: str, base: PurePosixPath) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "k8s-install-addons", "namespace": NAMESPACE},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": url,
                "targetRevision": revision,
                "path": str(base / "argocd" / "apps"),
            },
            "destination": {"server": DESTINATION, "namespace": NAMESPACE},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def write(
    root: Path, rendered: list[Rendered], url: str | None = None, revision: str = "HEAD"
) -> list[Path]:
    """Write the Applications; returns the files. The apps/ directory is rewritten whole."""
    url = url or repo_url(root)
    if not url:
        raise InvalidInput(
            "--argocd needs the URL Argo CD clones the cluster repo from",
            fix="pass --repo-url URL, or add a Git remote named origin",
        )
    base = repo_prefix(root) / PurePosixPath(*RENDERED.parts)
    target = root / RENDERED / "argocd"
    apps = target / "apps"
    if apps.is_dir():
        shutil.rmtree(apps)
    apps.mkdir(parents=True)
    written = []
    for item in rendered:
        path = apps / f"{item.release.name}.yaml"
        path.write_text(HEADER + yamlfile.dump(application(item, url, revision, base)))
        written.append(path)
    path = target / "root.yaml"
    path.write_text(HEADER + yamlfile.dump(root_application(url, revision, base)))
    written.append(path)
    return written
