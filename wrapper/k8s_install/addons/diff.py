"""`addons diff`: the rendered releases against what helm stored in the cluster.

helm keeps, per release, the values it was given and the manifest it applied
(`helm get values`, `helm get manifest`). Both sides are put in the same canonical form first;
CRDs from a chart's crds/ directory and hook objects are left out of the rendered side, because
helm stores neither in the release manifest.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from k8s_install.addons import manifests
from k8s_install.addons.helm import Helm, HelmError
from k8s_install.addons.render import RENDERED
from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.model import yamlfile

ENV_KUBECONFIG = "K8S_INSTALL_KUBECONFIG"
LOCAL_KUBECONFIG = Path(".k8s-install") / "kubeconfig" / "admin.conf"
HOOK = "helm.sh/hook"


@dataclass(frozen=True)
class ReleaseDiff:
    name: str
    namespace: str
    status: str  # in-sync, drifted, not-installed
    values: str = ""  # unified diff, live -> rendered
    manifest: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "status": self.status,
            "values_diff": self.values,
            "manifest_diff": self.manifest,
        }


def kubeconfig(root: Path, given: Path | None = None) -> Path:
    """--kubeconfig, else K8S_INSTALL_KUBECONFIG, else .k8s-install/kubeconfig/admin.conf."""
    for candidate in (given, os.environ.get(ENV_KUBECONFIG), root / LOCAL_KUBECONFIG):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise K8sInstallError(
        "no kubeconfig for the cluster",
        fix=f"pass --kubeconfig PATH or set {ENV_KUBECONFIG} (e.g. a copy of "
        "/etc/kubernetes/admin.conf from the first control-plane node)",
        code=ExitCode.INVALID_INPUT,
    )


def _values_text(text: str) -> str:
    data = yaml.safe_load(text) if text.strip() else None
    if data is None:
        data = {}
    return yamlfile.dump(data)


def _stored_side(text: str) -> str:
    """The rendered manifest as helm stores it: no crds/ files, no hooks."""
    docs = [
        d
        for d in manifests.parse(text)
        if "/crds/" not in d.source
        and HOOK not in ((d.body.get("metadata") or {}).get("annotations") or {})
    ]
    return manifests.dump(docs)


def _unified(live: str, rendered: str, name: str, what: str) -> str:
    lines = difflib.unified_diff(
        live.splitlines(keepends=True),
        rendered.splitlines(keepends=True),
        fromfile=f"live/{name}/{what}",
        tofile=f"rendered/{name}/{what}",
    )
    return "".join(lines)


def compare(
    name: str,
    namespace: str,
    rendered_values: str,
    rendered_manifest: str,
    live_values: str | None,
    live_manifest: str | None,
) -> ReleaseDiff:
    """Pure comparison of one release; None on the live side means helm has no such release."""
    if live_values is None or live_manifest is None:
        return ReleaseDiff(name, namespace, "not-installed")
    values = _unified(_values_text(live_values), _values_text(rendered_values), name, "values.yaml")
    manifest = _unified(
        _stored_side(live_manifest), _stored_side(rendered_manifest), name, "manifest.yaml"
    )
    status = "drifted" if values or manifest else "in-sync"
    return ReleaseDiff(name, namespace, status, values, manifest)


def live(helm: Helm, name: str, namespace: str, config: Path) -> tuple[str | None, str | None]:
    """helm's stored values and manifest of a release; (None, None) when it is not installed."""
    try:
        values = helm.run(
            "get", "values", name, "--namespace", namespace, "--output", "yaml", kubeconfig=config
        ).stdout
        manifest = helm.run(
            "get", "manifest", name, "--namespace", namespace, kubeconfig=config
        ).stdout
    except HelmError as exc:
        text = exc.message.lower()
        if "release: not found" in text or ("not found" in text and "release" in text):
            return None, None
        raise K8sInstallError(
            f"cannot read release {namespace}/{name} from the cluster: {exc.message}",
            fix="check the kubeconfig and that the API server answers",
            code=ExitCode.UNREACHABLE,
        ) from None
    return values, manifest


def diff_all(root: Path, helm: Helm, config: Path) -> list[ReleaseDiff]:
    """Every rendered release against the cluster (run `addons render` first)."""
    result = []
    for info_path in sorted((root / RENDERED).glob("*/release.yaml")):
        info = yaml.safe_load(info_path.read_text())
        name, namespace = str(info["name"]), str(info["namespace"])
        directory = info_path.parent
        live_values, live_manifest = live(helm, name, namespace, config)
        result.append(
            compare(
                name,
                namespace,
                (directory / "values.yaml").read_text(),
                (directory / "manifest.yaml").read_text(),
                live_values,
                live_manifest,
            )
        )
    return result
