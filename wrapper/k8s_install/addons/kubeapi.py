"""A small Kubernetes API client for reads and server-side dry runs, from a kubeconfig.

Only what drift needs: discovery (kind -> resource), GET of one object, and a server-side
apply in dry-run mode (`?dryRun=All`), which the API server answers with the object as it
would be, defaults and admission included, and changes nothing. Client certificates and
tokens come from the kubeconfig's current context; key material goes to a private temporary
file only while the TLS context loads it.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.model import yamlfile

TIMEOUT = 30
MAX_BODY = 64 << 20  # a single object or discovery document
FIELD_MANAGER = "k8s-install-drift"


class KubeError(K8sInstallError):
    pass


@dataclass
class Resource:
    """Where objects of one kind live: /api/v1 or /apis/GROUP/VERSION, its plural, its scope."""

    base: str
    plural: str
    namespaced: bool


@dataclass
class Client:
    server: str
    context: ssl.SSLContext
    token: str = ""
    _resources: dict[str, dict[str, Resource]] = field(default_factory=dict)

    def _request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.server + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self.context) as answer:
                return answer.status, json.loads(answer.read(MAX_BODY + 1)[:MAX_BODY])
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read(MAX_BODY))
            except ValueError:
                detail = {}
            return exc.code, detail
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise KubeError(
                f"{self.server}: the API server does not answer ({getattr(exc, 'reason', exc)})",
                fix="check the kubeconfig's server address and that the cluster is up",
                code=ExitCode.UNREACHABLE,
            ) from exc

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """The resource of a kind, from the API server's discovery; None if it serves none."""
        if api_version not in self._resources:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            status, data = self._request("GET", base)
            found: dict[str, Resource] = {}
            if status == 200 and isinstance(data, dict):
                for item in data.get("resources") or []:
                    if "/" in str(item.get("name", "")):
                        continue  # subresources
                    found[str(item.get("kind"))] = Resource(
                        base, str(item["name"]), bool(item.get("namespaced"))
                    )
            self._resources[api_version] = found
        return self._resources[api_version].get(kind)

    def _path(self, body: dict[str, Any], namespace: str) -> str | None:
        resource = self.resource(str(body.get("apiVersion", "")), str(body.get("kind", "")))
        if resource is None:
            return None
        name = urllib.parse.quote(str((body.get("metadata") or {}).get("name", "")), safe="")
        scope = (
            f"/namespaces/{urllib.parse.quote(namespace, safe='')}" if resource.namespaced else ""
        )
        return f"{resource.base}{scope}/{resource.plural}/{name}"

    def get(self, body: dict[str, Any], namespace: str) -> dict[str, Any] | None:
        """The live object named like `body`; None when it does not exist."""
        path = self._path(body, namespace)
        if path is None:
            return None
        status, data = self._request("GET", path)
        if status == 404:
            return None
        if status != 200 or not isinstance(data, dict):
            raise KubeError(f"GET {path}: HTTP {status} {_message(data)}")
        return data

    def dry_run_apply(self, body: dict[str, Any], namespace: str) -> dict[str, Any]:
        """The object as a server-side apply of `body` would leave it; nothing is changed."""
        path = self._path(body, namespace)
        if path is None:
            raise KubeError(f"the API server serves no {body.get('apiVersion')} {body.get('kind')}")
        query = urllib.parse.urlencode(
            {"dryRun": "All", "fieldManager": FIELD_MANAGER, "force": "true"}
        )
        status, data = self._request(
            "PATCH",
            f"{path}?{query}",
            json.dumps(body).encode(),
            "application/apply-patch+yaml",
        )
        if status not in (200, 201) or not isinstance(data, dict):
            raise KubeError(f"dry-run apply of {path}: HTTP {status} {_message(data)}")
        return data


def _message(data: Any) -> str:
    return str(data.get("message", ""))[:300] if isinstance(data, dict) else ""


def connect(kubeconfig: Path) -> Client:
    """A client for the kubeconfig's current context."""
    data = yamlfile.load(kubeconfig).data
    if not isinstance(data, dict):
        raise KubeError(f"{kubeconfig}: not a kubeconfig", code=ExitCode.INVALID_INPUT)
    try:
        context_name = data.get("current-context") or data["contexts"][0]["name"]
        context = _named(data, "contexts", context_name)["context"]
        cluster = _named(data, "clusters", context["cluster"])["cluster"]
        user = _named(data, "users", context["user"])["user"] if context.get("user") else {}
        server = str(cluster["server"]).rstrip("/")
    except (KeyError, IndexError, TypeError) as exc:
        raise KubeError(
            f"{kubeconfig}: no usable context, cluster or user ({exc})",
            fix="give the admin kubeconfig of the cluster (up writes .k8s-install/kubeconfig/admin.conf)",
            code=ExitCode.INVALID_INPUT,
        ) from None
    tls = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        tls.load_verify_locations(cadata=_pem(cluster["certificate-authority-data"]))
    elif cluster.get("certificate-authority"):
        tls.load_verify_locations(cafile=str(cluster["certificate-authority"]))
    if user.get("client-certificate-data") and user.get("client-key-data"):
        _load_client_pair(tls, _pem(user["client-certificate-data"]), _pem(user["client-key-data"]))
    elif user.get("client-certificate") and user.get("client-key"):
        tls.load_cert_chain(str(user["client-certificate"]), str(user["client-key"]))
    return Client(server, tls, token=str(user.get("token") or ""))


def _named(data: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in data.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise KeyError(f"{section} has no entry named {name}")


def _pem(value: str) -> str:
    return base64.b64decode(value).decode()


def _load_client_pair(tls: ssl.SSLContext, cert: str, key: str) -> None:
    """ssl loads a client key only from a file: a 0600 file in a 0700 directory, removed at once."""
    with tempfile.TemporaryDirectory(prefix="k8s-install-tls-") as directory:
        path = Path(directory) / "client.pem"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(cert + "\n" + key)
        tls.load_cert_chain(str(path))
