"""Every check of a cluster.yaml, reported in one pass with field paths and fixes."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from k8s_install.base.errors import Problem
from k8s_install.model import addon_checks, engine_releases
from k8s_install.model.schema import CLUSTER_SCHEMA, NAME_PATTERN
from k8s_install.model.yamlfile import Document, PathKey, Vaulted, format_path

_VALIDATOR = Draft202012Validator(CLUSTER_SCHEMA)

SECRET_KEY = re.compile(
    r"(passw(or)?d|passphrase|secret|token|private[_-]?key|api[_-]?key|"
    r"credential|certificate[_-]?key)",
    re.IGNORECASE,
)
NOT_SECRET_KEY = re.compile(r"(_file|_path|_ref|_name|_enabled|secrets_encryption)$", re.IGNORECASE)
PRIVATE_KEY_TEXT = "PRIVATE KEY-----"

# Settings k8s-install writes from cluster.yaml; a `kubespray:` override would fight them.
MANAGED_VARS = {
    "kube_version": "kubernetes.version",
    "kube_network_plugin": "network.plugin",
    "kube_pods_subnet": "network.pod_cidr",
    "kube_service_addresses": "network.service_cidr",
    "kube_network_node_prefix": "network.node_prefix",
    "cluster_name": "name",
}
# Variables the pinned engine removed (from its roles/validate_inventory).
REMOVED_VARS = {"kubelet_static_pod_path": "removed in Kubespray v2.31.0"}

VAULT_FIX = (
    "encrypt it: `ansible-vault encrypt_string --name KEY 'VALUE'` and paste the "
    "`!vault |` block here, or keep it in a vault-encrypted vars file"
)


def problems_in(doc: Document) -> list[Problem]:
    """All problems in a parsed cluster.yaml; an empty list means it is valid."""
    data = doc.data
    if not isinstance(data, dict):
        return [
            Problem(
                "(top level)",
                f"the file must be a mapping of settings, not {type(data).__name__}",
                "start from `k8s-install init` or the sample",
            )
        ]
    problems = [_schema_problem(error, doc) for error in _VALIDATOR.iter_errors(data)]
    problems += list(_secrets(data, ()))
    problems += _node_problems(data)
    problems += _network_problems(data)
    problems += _version_problems(data)
    problems += _access_problems(data)
    problems += _offline_problems(data)
    problems += _override_problems(data)
    addons = data.get("addons")
    if isinstance(addons, dict):
        problems += addon_checks.problems(addons)
    return sorted(set(problems), key=lambda p: (p.severity != "error", p.path, p.message))


def _schema_problem(error: ValidationError, doc: Document) -> Problem:
    path: PathKey = tuple(error.absolute_path)
    where = format_path(path)
    value = error.instance
    if error.validator == "additionalProperties":
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = sorted(schema.get("properties", {}))
        extras = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        key = extras[0] if extras else "?"
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(allowed)}"
        return Problem(format_path((*path, key)), f"unknown key '{key}'", hint)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        field = missing[0] if missing else "?"
        return Problem(
            format_path((*path, field)),
            f"missing required field '{field}'",
            f"add '{field}' (see `k8s-install schema`)",
        )
    if error.validator == "type":
        expected = error.validator_value
        if expected == "boolean" and isinstance(value, str):
            return Problem(
                where,
                f"expected a boolean, got the string '{value}'",
                "write true or false, without quotes",
            )
        return Problem(
            where,
            f"expected {expected}, got {type(value).__name__} {value!r}",
            f"give {'an' if str(expected)[0] in 'aeiou' else 'a'} {expected}",
        )
    if error.validator == "pattern" and error.validator_value == NAME_PATTERN:
        return Problem(
            where,
            f"'{value}' is not an RFC 1123 name",
            "use lower-case letters, digits and '-', starting and ending with a "
            "letter or digit, at most 63 characters",
        )
    if error.validator == "enum":
        choices: list[Any] = error.validator_value  # type: ignore[assignment]
        options = ", ".join(str(v) for v in choices)
        return Problem(where, f"{value!r} is not allowed", f"use one of: {options}")
    return Problem(where, error.message, f"see `k8s-install schema` ({doc.where(path)})")


def _secrets(value: Any, path: PathKey) -> Iterator[Problem]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = (*path, key)
            if (
                isinstance(item, str)
                and not isinstance(item, Vaulted)
                and item
                and SECRET_KEY.search(str(key))
                and not NOT_SECRET_KEY.search(str(key))
                and "{{" not in item
            ):
                yield Problem(format_path(child), "plaintext secret in the cluster file", VAULT_FIX)
            else:
                yield from _secrets(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secrets(item, (*path, index))
    elif isinstance(value, str) and PRIVATE_KEY_TEXT in value and not isinstance(value, Vaulted):
        yield Problem(
            format_path(path),
            "a private key is pasted into the cluster file",
            "point access.ssh_key at the key file, or vault it: " + VAULT_FIX,
        )


def _nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = data.get("nodes")
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def _roles(node: dict[str, Any]) -> list[str]:
    roles = node.get("roles")
    return roles if isinstance(roles, list) else []


def _node_problems(data: dict[str, Any]) -> list[Problem]:
    nodes = _nodes(data)
    if not nodes:
        return []
    problems: list[Problem] = []
    if not any("control-plane" in _roles(n) for n in nodes):
        problems.append(
            Problem(
                "nodes",
                "no node has the role control-plane",
                "add 'control-plane' to the roles of 1 or 3 nodes",
            )
        )
    etcd = [n for n in nodes if "etcd" in _roles(n)]
    if not etcd:
        problems.append(
            Problem(
                "nodes",
                "no node has the role etcd",
                "add 'etcd' to the roles of 1, 3 or 5 control-plane nodes",
            )
        )
    elif len(etcd) % 2 == 0:
        count = len(etcd)
        problems.append(
            Problem(
                "nodes",
                f"{count} etcd members is an even number: etcd needs a majority "
                f"({count // 2 + 1} of {count}) to work, so {count} members tolerate "
                f"{(count - 1) // 2} failure(s), the same as {count - 1}, with more to go wrong",
                f"use {count - 1} or {count + 1} etcd members",
            )
        )
    for field in ("name",):
        counts = Counter(n.get(field) for n in nodes if n.get(field) is not None)
        for index, node in enumerate(nodes):
            if counts.get(node.get(field), 0) > 1:
                problems.append(
                    Problem(
                        f"nodes[{index}].{field}",
                        f"duplicate node {field} '{node[field]}'",
                        "give every node a unique name",
                    )
                )
    endpoints = Counter((n.get("address"), n.get("ssh_port")) for n in nodes if n.get("address"))
    ips = Counter(n.get("internal_address") or n.get("address") for n in nodes)
    for index, node in enumerate(nodes):
        address = node.get("address")
        if address is None:
            continue
        if endpoints[(address, node.get("ssh_port"))] > 1:
            problems.append(
                Problem(
                    f"nodes[{index}].address",
                    f"duplicate address '{address}'",
                    "give every node its own address",
                )
            )
        elif ips[node.get("internal_address") or address] > 1:
            field = "internal_address" if node.get("internal_address") else "address"
            problems.append(
                Problem(
                    f"nodes[{index}].{field}",
                    f"duplicate cluster address '{node.get(field)}'",
                    "set internal_address so every node has its own",
                )
            )
    return problems


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return None


def _network_problems(data: dict[str, Any]) -> list[Problem]:
    network = data.get("network") if isinstance(data.get("network"), dict) else {}
    assert isinstance(network, dict)
    problems: list[Problem] = []
    parsed: dict[str, Any] = {}
    for field in ("pod_cidr", "service_cidr", "node_cidr"):
        value = network.get(field)
        if value is None:
            default = {"pod_cidr": "10.233.64.0/18", "service_cidr": "10.233.0.0/18"}.get(field)
            if default:
                parsed[field] = ipaddress.ip_network(default)
            continue
        net = _network(value)
        if net is None:
            problems.append(
                Problem(
                    f"network.{field}",
                    f"'{value}' is not a network in CIDR form",
                    "write it like 10.233.64.0/18, with no host bits set",
                )
            )
        else:
            parsed[field] = net
    names = list(parsed)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if parsed[first].overlaps(parsed[second]):
                problems.append(
                    Problem(
                        f"network.{second}",
                        f"{parsed[second]} overlaps network.{first} {parsed[first]}",
                        "pick ranges that do not overlap",
                    )
                )
    for index, node in enumerate(_nodes(data)):
        for field in ("address", "internal_address"):
            try:
                ip = ipaddress.ip_address(str(node.get(field)))
            except ValueError:
                continue
            for name in ("pod_cidr", "service_cidr"):
                if name in parsed and ip in parsed[name]:
                    problems.append(
                        Problem(
                            f"nodes[{index}].{field}",
                            f"{ip} lies inside network.{name} {parsed[name]}",
                            f"move network.{name} away from the node network",
                        )
                    )
    prefix = network.get("node_prefix", 24)
    pod = parsed.get("pod_cidr")
    if pod is not None and isinstance(prefix, int):
        count = len(_nodes(data))
        if prefix <= pod.prefixlen:
            problems.append(
                Problem(
                    "network.node_prefix",
                    f"/{prefix} is not smaller than pod_cidr /{pod.prefixlen}",
                    f"use a node_prefix larger than {pod.prefixlen}",
                )
            )
        elif 2 ** (prefix - pod.prefixlen) < count:
            room = 2 ** (prefix - pod.prefixlen)
            problems.append(
                Problem(
                    "network.pod_cidr",
                    f"{pod} holds only {room} node ranges of /{prefix}, "
                    f"but there are {count} nodes",
                    "widen pod_cidr or raise node_prefix",
                )
            )
    return problems


def _version_problems(data: dict[str, Any]) -> list[Problem]:
    engine = data.get("engine") if isinstance(data.get("engine"), dict) else {}
    assert isinstance(engine, dict)
    release = str(engine.get("release", engine_releases.DEFAULT_RELEASE))
    try:
        lock = engine_releases.lock(release)
    except KeyError:
        return [
            Problem(
                "engine.release",
                f"unknown engine release '{release}'",
                f"use one of: {', '.join(engine_releases.releases())}",
            )
        ]
    kubernetes = data.get("kubernetes")
    version = kubernetes.get("version") if isinstance(kubernetes, dict) else None
    if not isinstance(version, str):
        return []
    supported = lock["kubernetes_versions"]
    if version.lstrip("v") not in supported:
        return [
            Problem(
                "kubernetes.version",
                f"Kubernetes {version} is not supported by Kubespray {release}",
                f"use one of: {', '.join(supported)}",
            )
        ]
    return []


def _access_problems(data: dict[str, Any]) -> list[Problem]:
    access = data.get("access")
    if not isinstance(access, dict):
        return []
    problems = []
    if access.get("ssh_key") and access.get("ssh_agent") is True:
        problems.append(
            Problem(
                "access", "both ssh_key and ssh_agent are set", "keep one: a key path, or the agent"
            )
        )
    if access.get("host_key_checking") is False:
        problems.append(
            Problem(
                "access.host_key_checking",
                "SSH host key checking is off: a man in the middle goes unnoticed",
                "record the hosts' keys in access.known_hosts instead",
                severity="warning",
            )
        )
    return problems


def _offline_problems(data: dict[str, Any]) -> list[Problem]:
    offline = data.get("offline")
    if not isinstance(offline, dict) or offline.get("enabled") is not True:
        return []
    problems = []
    for field in ("bundle", "repo_host"):
        if not offline.get(field):
            problems.append(
                Problem(
                    f"offline.{field}",
                    "required when offline.enabled is true",
                    f"set offline.{field}",
                )
            )
    host = offline.get("repo_host")
    known = {n.get("name") for n in _nodes(data)} | {n.get("address") for n in _nodes(data)}
    if host and host not in known:
        problems.append(
            Problem(
                "offline.repo_host",
                f"'{host}' is not a node name or address",
                f"use one of: {', '.join(sorted(str(k) for k in known if k))}",
            )
        )
    return problems


def _override_problems(data: dict[str, Any]) -> list[Problem]:
    overrides = data.get("kubespray")
    if not isinstance(overrides, dict):
        return []
    problems = []
    for key in overrides:
        if key in MANAGED_VARS:
            problems.append(
                Problem(
                    f"kubespray.{key}",
                    "k8s-install sets this from cluster.yaml",
                    f"set {MANAGED_VARS[key]} instead",
                )
            )
        if key in REMOVED_VARS:
            problems.append(Problem(f"kubespray.{key}", REMOVED_VARS[key], "remove it"))
    return problems
