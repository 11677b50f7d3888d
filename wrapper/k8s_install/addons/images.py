"""Every container image the rendered addons use, read from rendered/addons/*/manifest.yaml.

Pod specs anywhere in an object count (Deployments, CronJobs' job templates, Pods, and custom
resources that embed a pod template): their containers, initContainers and ephemeralContainers.
Custom resources (any apiVersion outside the built-in groups) also count a string `image:` field,
as the Prometheus operator's Prometheus and Alertmanager objects use. A container's command,
args and env values count when they name an image with its registry and a tag or digest, whole
or after `--flag=`: the Prometheus operator gets its config reloader that way
(`--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.85.0`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from k8s_install.addons import manifests
from k8s_install.addons.render import RENDERED

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# API groups of built-in kinds; anything else is a custom resource.
BUILTIN_GROUPS = re.compile(
    r"^(v1|(apps|batch|policy|autoscaling|networking\.k8s\.io|rbac\.authorization\.k8s\.io|"
    r"storage\.k8s\.io|admissionregistration\.k8s\.io|apiextensions\.k8s\.io|"
    r"scheduling\.k8s\.io|coordination\.k8s\.io|discovery\.k8s\.io|node\.k8s\.io|"
    r"apiregistration\.k8s\.io|certificates\.k8s\.io|events\.k8s\.io|flowcontrol\.apiserver\.k8s\.io|"
    r"resource\.k8s\.io|gateway\.networking\.k8s\.io)/[a-z0-9]+)$"
)
# An image named in an argument or env value: a registry host (with a dot, or localhost, and an
# optional port), a path, and a tag or a digest (or both). Stricter than IMAGE, so URLs, paths
# and `host:port` values are not taken for images.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:[a-z0-9-]+(?:\.[a-z0-9-]+)+|localhost)(?::[0-9]{1,5})?"
_TAG = r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"@sha256:[a-f0-9]{64}"
ARGUMENT_IMAGE = re.compile(
    rf"^{_REGISTRY}/{_COMPONENT}(?:/{_COMPONENT})*(?:{_TAG}{_DIGEST}|{_TAG}|{_DIGEST})$"
)
IMAGE = re.compile(r"^[a-z0-9][a-z0-9._:/-]*(@sha256:[a-f0-9]{64})?$|^[a-z0-9].*:[\w.-]+$")


def images_in(text: str) -> set[str]:
    """Images in one multi-document manifest."""
    found: set[str] = set()
    for doc in manifests.parse(text):
        found |= _images(doc.body)
        if doc.kind == "ConfigMap" and isinstance(doc.body.get("data"), dict):
            # Pod templates kept as text (local-path-provisioner's helperPod.yaml).
            for value in doc.body["data"].values():
                embedded = _yaml(value) if isinstance(value, str) and "image" in value else None
                if isinstance(embedded, dict):
                    found |= _images(embedded)
    return found


def _yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _images(body: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    custom = not BUILTIN_GROUPS.match(str(body.get("apiVersion", "")))
    for key, value, _parent in manifests.walk(body):
        if key in CONTAINER_LISTS and isinstance(value, list):
            for container in value:
                if isinstance(container, dict) and isinstance(container.get("image"), str):
                    found.add(container["image"])
                if isinstance(container, dict):
                    found |= _argument_images(container)
        elif custom and key == "image" and isinstance(value, str) and IMAGE.match(value):
            found.add(value)
    return found


def _argument_images(container: dict[str, Any]) -> set[str]:
    """Images a container names in its command, args or env values."""
    values: list[Any] = [*(container.get("command") or []), *(container.get("args") or [])]
    values += [e.get("value") for e in container.get("env") or [] if isinstance(e, dict)]
    found = set()
    for value in values:
        if not isinstance(value, str):
            continue
        candidate = value.split("=", 1)[1] if value.startswith("-") and "=" in value else value
        if ARGUMENT_IMAGE.match(candidate):
            found.add(candidate)
    return found


def by_release(repo_root: Path) -> dict[str, list[str]]:
    """release name -> its sorted images."""
    result: dict[str, list[str]] = {}
    base = repo_root / RENDERED
    if not base.is_dir():
        return result
    for manifest in sorted(base.glob("*/manifest.yaml")):
        result[manifest.parent.name] = sorted(images_in(manifest.read_text()))
    return result


def list_images(repo_root: Path) -> list[str]:
    """Every image of every rendered release, sorted and unique (the offline bundle's list)."""
    return sorted({image for images in by_release(repo_root).values() for image in images})
