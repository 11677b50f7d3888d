"""Addon drift for `k8s-install drift` and `up`: each rendered release against the cluster.

Two comparisons per release:
- helm's stored values and manifest against rendered/addons/ (addons.diff): a release
  installed from other values or another chart version;
- every live object against its rendered manifest: a server-side apply of the rendered
  object in dry-run mode gives the object as Git says it should be (defaults and admission
  included), and each field where it differs from the live object is drift. So a Deployment
  scaled or an env value edited by hand shows up, named by release, kind/name and field,
  while fields Git never set (status, defaults, other controllers' fields) do not.
Secrets are compared by existence only: their data is redacted in Git.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8s_install.addons import diff, helm, kubeapi, manifests
from k8s_install.addons.render import RENDERED
from k8s_install.model.config import Cluster

# Fields the API server sets on every write, never part of what Git applies.
VOLATILE = (
    "metadata.managedFields",
    "metadata.resourceVersion",
    "metadata.generation",
    "metadata.creationTimestamp",
    "metadata.uid",
)
MAX_FIELDS = 20  # per object


@dataclass(frozen=True)
class FieldDrift:
    path: str
    live: Any
    git: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "live": self.live, "git": self.git}


@dataclass
class ObjectDrift:
    kind: str
    name: str
    namespace: str
    status: str  # changed, missing
    fields: list[FieldDrift] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "status": self.status,
            "fields": [f.as_dict() for f in self.fields],
        }

    def describe(self) -> str:
        where = f"{self.kind}/{self.name}"
        if self.status == "missing":
            return f"{where} is missing"
        shown = "; ".join(f"{f.path}: {f.live!r} (live) -> {f.git!r} (Git)" for f in self.fields)
        return f"{where}: {shown}"


def detect(cluster: Cluster) -> list[dict[str, Any]]:
    """One entry per rendered release; raises K8sInstallError without a kubeconfig or API."""
    config = diff.kubeconfig(cluster.root)
    binary = helm.default(helm.bundle_dir(cluster))
    client = kubeapi.connect(config)
    result = []
    for release in diff.diff_all(cluster.root, binary, config):
        entry = release.as_dict()
        if release.status != "not-installed":
            objects = live_objects(
                client, cluster.root / RENDERED / release.name, release.namespace
            )
            entry["objects"] = [o.as_dict() for o in objects]
            if objects and entry["status"] == "in-sync":
                entry["status"] = "drifted"
        result.append(entry)
    return result


def live_objects(client: kubeapi.Client, directory: Path, namespace: str) -> list[ObjectDrift]:
    """The objects of one rendered release that differ in the cluster."""
    text = (directory / "manifest.yaml").read_text()
    found = []
    for doc in manifests.parse(text):
        body = doc.body
        metadata = body.get("metadata") or {}
        if diff.HOOK in (metadata.get("annotations") or {}) or not metadata.get("name"):
            continue
        where = str(metadata.get("namespace") or namespace)
        live = client.get(body, where)
        if live is None:
            if client.resource(str(body.get("apiVersion")), doc.kind) is not None:
                found.append(ObjectDrift(doc.kind, str(metadata["name"]), where, "missing"))
            continue
        if doc.kind == "Secret":
            continue
        wanted = client.dry_run_apply(_with_namespace(body, where, live), where)
        fields = differences(live, wanted)
        if fields:
            found.append(
                ObjectDrift(doc.kind, str(metadata["name"]), where, "changed", fields[:MAX_FIELDS])
            )
    return found


def _with_namespace(body: dict[str, Any], namespace: str, live: dict[str, Any]) -> dict[str, Any]:
    """The rendered object as applied: in the release's namespace when the live one has one."""
    if not (live.get("metadata") or {}).get("namespace"):
        return body
    metadata = {**(body.get("metadata") or {}), "namespace": namespace}
    return {**body, "metadata": metadata}


def differences(live: dict[str, Any], wanted: dict[str, Any]) -> list[FieldDrift]:
    """Fields whose live value differs from the value Git's apply would give them."""
    old = dict(_leaves(live))
    new = dict(_leaves(wanted))
    missing = object()
    return [
        FieldDrift(path, old.get(path), new.get(path))
        for path in sorted(set(old) | set(new))
        if not path.startswith(VOLATILE) and old.get(path, missing) != new.get(path, missing)
    ]


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key in sorted(value, key=str):
            yield from _leaves(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{prefix}[{_list_key(item, index)}]")
    else:
        yield prefix, value


def _list_key(item: Any, index: int) -> str:
    """Containers, env entries, ports and volumes by name, as `kubectl` users know them."""
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return f"name={item['name']}"
    return str(index)


def summary_lines(releases: list[dict[str, Any]]) -> list[str]:
    """One line per drifted object, naming the release, kind/name and fields."""
    lines = []
    for release in releases:
        for obj in release.get("objects") or []:
            drift = ObjectDrift(
                obj["kind"],
                obj["name"],
                obj["namespace"],
                obj["status"],
                [FieldDrift(f["path"], f["live"], f["git"]) for f in obj.get("fields") or []],
            )
            lines.append(f"addon {release['name']}: {drift.describe()}")
    return lines
