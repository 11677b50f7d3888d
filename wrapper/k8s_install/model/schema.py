"""The JSON Schema of cluster.yaml: strict (no unknown keys), published for editors."""

from __future__ import annotations

import copy
from typing import Any

from k8s_install.model.engine_releases import DEFAULT_RELEASE

SCHEMA_ID = "https://k8s-install.dev/schema/cluster.schema.json"

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
VERSION_PATTERN = r"^v?[0-9]+\.[0-9]+\.[0-9]+$"
# For editors; validate checks key, value and effect itself and names what is wrong.
TAINT_PATTERN = r"^[^=:]+(=[^:]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$"
ROLES = ["control-plane", "etcd", "worker"]


def _obj(
    properties: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _str(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _bool(description: str, default: bool) -> dict[str, Any]:
    return {"type": "boolean", "description": description, "default": default}


PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
CIDR = {"type": "string", "description": "An IPv4 network in CIDR form, e.g. 10.233.64.0/18."}

NODE = _obj(
    {
        "name": _str(
            "Node name, an RFC 1123 label; becomes the Kubernetes node name.", pattern=NAME_PATTERN
        ),
        "address": _str(
            "Address k8s-install connects to over SSH: an IPv4 address or an RFC 1123 host name."
        ),
        "internal_address": _str(
            "IPv4 address cluster traffic uses, when it differs from `address`."
        ),
        "ssh_user": _str("SSH user for this node; defaults to access.user."),
        "ssh_port": {**PORT, "description": "SSH port for this node; defaults to access.port."},
        "roles": {
            "type": "array",
            "description": "What the node runs.",
            "items": {"enum": ROLES},
            "minItems": 1,
            "uniqueItems": True,
        },
        "labels": {
            "type": "object",
            "description": "Kubernetes node labels: [prefix/]name keys, values of at most 63 "
            "characters.",
            "additionalProperties": {"type": "string"},
        },
        "taints": {
            "type": "array",
            "description": "Kubernetes taints as key=value:Effect.",
            "items": {
                "type": "string",
                "pattern": TAINT_PATTERN,
            },
        },
    },
    ["name", "address", "roles"],
)

BASTION = _obj(
    {
        "address": _str("Jump host address."),
        "user": _str("SSH user on the jump host."),
        "port": {**PORT, "default": 22},
    },
    ["address"],
)

ACCESS = _obj(
    {
        "user": _str("Default SSH user.", default="root"),
        "port": {**PORT, "default": 22, "description": "Default SSH port."},
        "ssh_key": _str("Path to the private key (never copied into run artifacts)."),
        "ssh_agent": _bool(
            "Use the running ssh-agent (SSH_AUTH_SOCK) instead of a key path.", False
        ),
        "known_hosts": _str("known_hosts file to check host keys against."),
        "host_key_checking": _bool("Check SSH host keys (secure default).", True),
        "bastion": BASTION,
        "become": _bool("Use passwordless sudo on the nodes.", True),
        "become_password_vault_file": _str(
            "An ansible-vault encrypted vars file defining ansible_become_password."
        ),
        "ssh_ca": _obj(
            {
                "margin_minutes": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1440,
                    "default": 120,
                    "description": "With a CA in ssh-ca/ (`k8s-install access ca init`), each "
                    "run's SSH certificate is valid for the run's expected length plus this "
                    "many minutes.",
                },
            },
        ),
    },
)

# Pod networks k8s-install provides itself (roles/bridge_network), valid in network.plugin beside
# the ones the engine release lists; the inventory maps each to the engine plugin it builds on.
OWN_PLUGINS: tuple[str, ...] = ("bridge",)

NETWORK = _obj(
    {
        "plugin": _str(
            "CNI plugin the engine deploys; one the engine release lists "
            "(see `k8s-install engine info`), or k8s-install's own: "
            + ", ".join(f"`{p}`" for p in OWN_PLUGINS)
            + " (no overlay, for nodes on one L2 segment).",
            default="calico",
        ),
        "pod_cidr": {**CIDR, "default": "10.233.64.0/18"},
        "service_cidr": {**CIDR, "default": "10.233.0.0/18"},
        "node_prefix": {
            "type": "integer",
            "minimum": 16,
            "maximum": 28,
            "default": 24,
            "description": "Prefix length of each node's share of pod_cidr.",
        },
        "node_cidr": {
            **CIDR,
            "description": "The network the nodes' addresses are in (checked "
            "for overlap with pod_cidr and service_cidr).",
        },
    },
)

SECURITY = _obj(
    {
        "audit_logging": _bool("API server audit log.", True),
        "secrets_encryption": _bool("Encrypt Secrets at rest in etcd.", True),
        "pod_security": {
            "enum": ["privileged", "baseline", "restricted"],
            "default": "baseline",
            "description": "PodSecurity admission level enforced by default.",
        },
        "anonymous_auth": _bool("Allow anonymous requests to the API server.", False),
        "kubelet_read_only_port": _bool("Open the kubelet read-only port 10255.", False),
        "bind_local": _bool("Bind controller-manager and scheduler to localhost.", True),
    },
)

VALUE_REF = "Values may reference addons.globals as '${globals.path.to.value}'."

RELEASE = _obj(
    {
        "name": _str("Release name, an RFC 1123 label.", pattern=NAME_PATTERN),
        "preset": _str("A built-in catalog entry (see `k8s-install addons list --catalog`)."),
        "chart": _str("Chart: a Helm repo chart name, an oci:// reference, or a local path."),
        "repo": _str("Helm repository URL, when `chart` is a repo chart name."),
        "version": _str("Pinned chart version (exact, no ranges)."),
        "namespace": _str("Namespace to install into.", pattern=NAME_PATTERN),
        "values": {"type": "object", "description": VALUE_REF},
        "depends_on": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "enabled": _bool("Install it; false uninstalls it at the next apply.", True),
        "wait": _bool("Wait until the release's resources are ready.", True),
        "timeout": _str("How long to wait, e.g. 5m.", default="5m0s"),
        "namespace_labels": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Labels set on the release's namespace before it installs, e.g. "
            "pod-security.kubernetes.io/enforce: privileged for a DaemonSet on the host "
            "network; merged over the preset's.",
        },
    },
)

ADDONS = _obj(
    {
        "globals": {"type": "object", "description": "Values many charts share, written once."},
        "releases": {"type": "array", "items": RELEASE},
    },
)

OFFLINE = _obj(
    {
        "enabled": _bool("Install from an offline bundle only.", False),
        "bundle": _str("Path to the signed bundle archive or its unpacked directory."),
        "public_key": _str(
            "Path to the ed25519 public key the bundle must be signed with; `up`, scale, "
            "remove-node and upgrade verify the bundle with it first, and refuse without it."
        ),
        "repo_host": _str("Node name (or address) that serves files and images."),
        "files_port": {**PORT, "default": 8080},
        "registry_port": {**PORT, "default": 5000},
    },
)

BACKUP = _obj(
    {
        "dir": _str("Where snapshots are kept on the control machine.", default="backups"),
        "retention": {"type": "integer", "minimum": 1, "default": 7},
        "schedule": _obj(
            {
                "enabled": _bool("A systemd timer on the etcd nodes.", False),
                "on_calendar": _str("systemd OnCalendar expression.", default="daily"),
                "retention": {"type": "integer", "minimum": 1, "default": 7},
            },
        ),
    },
)

CLUSTER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "k8s-install cluster.yaml",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "kubernetes", "nodes"],
    "properties": {
        "name": _str("Cluster name, an RFC 1123 label.", pattern=NAME_PATTERN),
        "kubernetes": _obj(
            {"version": _str("Kubernetes version, e.g. 1.35.4.", pattern=VERSION_PATTERN)},
            ["version"],
        ),
        "engine": _obj({"release": _str("Kubespray release tag.", default=DEFAULT_RELEASE)}),
        "nodes": {"type": "array", "items": NODE, "minItems": 1},
        "network": NETWORK,
        "access": ACCESS,
        "security": SECURITY,
        "addons": ADDONS,
        "offline": OFFLINE,
        "backup": BACKUP,
        "kubespray": {
            "type": "object",
            "description": "Free Kubespray variables, written into group_vars.",
        },
    },
}

# The top-level keys a cluster definition has; a file with none of them is not one.
TOP_LEVEL_KEYS: tuple[str, ...] = (
    *CLUSTER_SCHEMA["required"],
    *(k for k in CLUSTER_SCHEMA["properties"] if k not in CLUSTER_SCHEMA["required"]),
)


def defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The defaults of an object schema's properties: the one place cluster.yaml defaults live.

    A property with a `default` takes it. An optional object whose properties are all optional
    is filled in the same way (an absent section means its defaults), and an optional list is
    empty. Required properties, and optional objects with required properties (a bastion needs
    its address), have no default.
    """
    required = set(schema.get("required", []))
    result: dict[str, Any] = {}
    for name, child in schema.get("properties", {}).items():
        if "default" in child:
            result[name] = copy.deepcopy(child["default"])
        elif name in required:
            continue
        elif child.get("type") == "object" and not child.get("required"):
            result[name] = defaults(child)
        elif child.get("type") == "array":
            result[name] = []
    return result
