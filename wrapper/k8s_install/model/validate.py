"""Every check of a cluster.yaml, reported in one pass with field paths and fixes."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from k8s_install.base.errors import Problem, shown
from k8s_install.model import addon_checks, addon_engine, engine_releases, names
from k8s_install.model.schema import CLUSTER_SCHEMA, NAME_PATTERN, OWN_PLUGINS, TAINT_PATTERN
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


def _close(value: Any, choices: list[str], cutoff: float = 0.6) -> str | None:
    """The choice value was probably meant to be; a long value is never compared (it is slow)."""
    text = str(value) if not isinstance(value, str) else value
    if len(text) > 64:
        return None
    close = difflib.get_close_matches(text, choices, n=1, cutoff=cutoff)
    return close[0] if close else None


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
    known = CLUSTER_SCHEMA["properties"]
    if not any(isinstance(key, str) and key in known for key in data):
        # Never list the keys of a file that is no cluster definition: they are its contents.
        return [
            Problem(
                "(top level)",
                "this is not a cluster definition: it has none of the top-level keys "
                f"k8s-install reads ({', '.join(CLUSTER_SCHEMA['required'])}, ...)",
                "point -c at a cluster.yaml (start one with `k8s-install init DIR`)",
            )
        ]
    problems = [
        problem
        for error in _VALIDATOR.iter_errors(data)
        if (problem := _schema_problem(error, doc)) is not None
    ]
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
        problems += addon_engine.problems(data)
    return sorted(set(problems), key=lambda p: (p.severity != "error", p.path, p.message))


def _schema_problem(error: ValidationError, doc: Document) -> Problem | None:
    path: PathKey = tuple(error.absolute_path)
    where = format_path(path)
    value = error.instance
    if error.validator == "additionalProperties":
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = sorted(schema.get("properties", {}))
        extras = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        key = extras[0] if extras else "?"
        close = _close(key, allowed)
        hint = f"did you mean '{close}'?" if close else f"known keys: {', '.join(allowed)}"
        more = f" (and {len(extras) - 1} more)" if len(extras) > 1 else ""
        return Problem(format_path((*path, key)), f"unknown key '{shown(key)}'{more}", hint)
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
                f"expected a boolean, got the string '{shown(value)}'",
                "write true or false, without quotes",
            )
        return Problem(
            where,
            f"expected {expected}, got {type(value).__name__} {shown(value)}",
            f"give {'an' if str(expected)[0] in 'aeiou' else 'a'} {expected}",
        )
    if error.validator == "pattern" and error.validator_value == TAINT_PATTERN:
        return None  # _taint_problems says which part is wrong
    if error.validator == "pattern" and error.validator_value == NAME_PATTERN:
        return Problem(
            where,
            f"'{shown(value)}' is not an RFC 1123 name",
            "use lower-case letters, digits and '-', starting and ending with a "
            "letter or digit, at most 63 characters",
        )
    if error.validator == "enum":
        choices: list[Any] = error.validator_value  # type: ignore[assignment]
        options = ", ".join(str(v) for v in choices)
        close = _close(value, [str(c) for c in choices])
        hint = f"did you mean '{close}'? (one of: {options})" if close else f"use one of: {options}"
        return Problem(where, f"'{shown(value)}' is not allowed", hint)
    description = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
    limits = {
        "minimum": "at least",
        "maximum": "at most",
        "minItems": "at least this many items:",
        "minLength": "at least this many characters:",
    }
    if error.validator in limits:
        message = f"{shown(value)}: must be {limits[str(error.validator)]} {error.validator_value}"
    elif error.validator == "uniqueItems":
        message = "an item is listed twice"
    elif error.validator == "pattern":
        message = f"'{shown(value)}' does not have the expected form"
    else:
        message = f"{shown(value)} does not satisfy the schema ({error.validator})"
    fix = f"{description} " if description else ""
    return Problem(where, message, f"{fix}(see `k8s-install schema`, {doc.where(path)})")


def _plaintext(item: Any) -> bool:
    """Whether a value under a secret-named key is written in the clear.

    Any scalar counts, whatever YAML made of it: `password: 123456` is as plain as the string.
    """
    if isinstance(item, Vaulted) or item is None or isinstance(item, bool):
        return False
    if isinstance(item, str):
        return bool(item) and "{{" not in item
    return not isinstance(item, dict | list)


def _secrets(value: Any, path: PathKey) -> Iterator[Problem]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = (*path, key)
            secret = SECRET_KEY.search(str(key)) and not NOT_SECRET_KEY.search(str(key))
            if secret and _plaintext(item):
                yield Problem(format_path(child), "plaintext secret in the cluster file", VAULT_FIX)
            elif secret and isinstance(item, list):
                for index, entry in enumerate(item):
                    if _plaintext(entry):
                        yield Problem(
                            format_path((*child, index)),
                            "plaintext secret in the cluster file",
                            VAULT_FIX,
                        )
                    else:
                        yield from _secrets(entry, (*child, index))
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
    problems += _node_syntax(data, nodes)
    problems += _duplicates(data, nodes)
    return problems


def _node_syntax(data: dict[str, Any], nodes: list[dict[str, Any]]) -> list[Problem]:
    """Addresses, SSH users, labels and taints: each against the syntax its consumer needs."""
    problems: list[Problem] = []
    for index, node in enumerate(nodes):
        at = f"nodes[{index}]"
        for field, check, fix in (
            ("address", names.address_problem, "write an IPv4 address or a host name"),
            ("internal_address", names.ip_problem, "write the node's IPv4 address"),
        ):
            value = node.get(field)
            if not isinstance(value, str):
                continue
            reason = check(value)
            if reason:
                problems.append(Problem(f"{at}.{field}", f"'{shown(value)}': {reason}", fix))
        user = node.get("ssh_user")
        if isinstance(user, str) and names.ssh_user_problem(user):
            problems.append(
                Problem(
                    f"{at}.ssh_user",
                    f"'{shown(user)}': {names.ssh_user_problem(user)}",
                    "write the login name",
                )
            )
        labels = node.get("labels")
        for key, value in labels.items() if isinstance(labels, dict) else ():
            reason = names.label_key_problem(str(key))
            if reason:
                problems.append(
                    Problem(
                        f"{at}.labels",
                        f"label key '{shown(key)}': {reason}",
                        "a key is [prefix/]name: prefix a DNS subdomain, name at most 63 "
                        "characters",
                    )
                )
            if isinstance(value, str) and names.label_value_problem(value):
                problems.append(
                    Problem(
                        f"{at}.labels.{shown(key, 64)}",
                        f"label value '{shown(value)}': {names.label_value_problem(value)}",
                        "shorten it, or keep to letters, digits, '-', '_' and '.'",
                    )
                )
        taints = node.get("taints")
        for position, taint in enumerate(taints if isinstance(taints, list) else []):
            if isinstance(taint, str):
                problems += _taint_problems(f"{at}.taints[{position}]", taint)
    access = data.get("access") if isinstance(data.get("access"), dict) else {}
    assert isinstance(access, dict)
    user = access.get("user")
    if isinstance(user, str) and names.ssh_user_problem(user):
        problems.append(
            Problem(
                "access.user",
                f"'{shown(user)}': {names.ssh_user_problem(user)}",
                "write the login name",
            )
        )
    bastion = access.get("bastion")
    address = bastion.get("address") if isinstance(bastion, dict) else None
    if isinstance(address, str) and names.address_problem(address):
        problems.append(
            Problem(
                "access.bastion.address",
                f"'{shown(address)}': {names.address_problem(address)}",
                "write an IPv4 address or a host name",
            )
        )
    return problems


def _taint_problems(path: str, taint: str) -> list[Problem]:
    problems = []
    for reason in names.taint_problems(taint):
        fix = "write key=value:Effect, Effect one of " + ", ".join(names.TAINT_EFFECTS)
        if reason.startswith("effect"):
            effect = taint.rpartition(":")[2]
            close = _close(effect, list(names.TAINT_EFFECTS), cutoff=0.5)
            if close:
                fix = f"did you mean '{close}'? The effects are " + ", ".join(names.TAINT_EFFECTS)
        problems.append(Problem(path, f"taint '{shown(taint)}': {reason}", fix))
    return problems


def _duplicates(data: dict[str, Any], nodes: list[dict[str, Any]]) -> list[Problem]:
    """Names and addresses compared as the network sees them: case-folded, IPs normalised."""
    problems: list[Problem] = []
    access = data.get("access") if isinstance(data.get("access"), dict) else {}
    assert isinstance(access, dict)
    default_port = access.get("port", 22)

    def port(node: dict[str, Any]) -> Any:
        value = node.get("ssh_port", default_port)
        return value if isinstance(value, int) else repr(value)

    def text(node: dict[str, Any], field: str) -> str | None:
        value = node.get(field)
        return names.canonical_address(value) if isinstance(value, str) and value else None

    names_seen = Counter(str(n["name"]).lower() for n in nodes if isinstance(n.get("name"), str))
    for index, node in enumerate(nodes):
        name = node.get("name")
        if isinstance(name, str) and names_seen[name.lower()] > 1:
            problems.append(
                Problem(
                    f"nodes[{index}].name",
                    f"duplicate node name '{shown(name)}'",
                    "give every node a unique name",
                )
            )
    endpoints = Counter((text(n, "address"), port(n)) for n in nodes if text(n, "address"))
    ips = Counter(text(n, "internal_address") or text(n, "address") for n in nodes)
    for index, node in enumerate(nodes):
        address = text(node, "address")
        if address is None:
            continue
        if endpoints[(address, port(node))] > 1:
            problems.append(
                Problem(
                    f"nodes[{index}].address",
                    f"duplicate address '{shown(node['address'])}' (the same host as "
                    f"'{shown(address)}')"
                    if address != node["address"]
                    else f"duplicate address '{shown(address)}'",
                    "give every node its own address",
                )
            )
        elif ips[text(node, "internal_address") or address] > 1:
            field = "internal_address" if text(node, "internal_address") else "address"
            problems.append(
                Problem(
                    f"nodes[{index}].{field}",
                    f"duplicate cluster address '{shown(node.get(field))}'",
                    "set internal_address so every node has its own",
                )
            )
    return problems


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return None


# The kubernetes Service takes the first address of service_cidr and the cluster DNS the third
# (Kubespray's skydns_server), so the range must hold both and room for other Services; the API
# server refuses a range larger than /12.
SERVICE_PREFIX_LARGEST = 12
SERVICE_PREFIX_SMALLEST = 28
NODE_PREFIX_RANGE = (16, 28)  # the schema's bounds of network.node_prefix
DEFAULT_CIDRS = {"pod_cidr": "10.233.64.0/18", "service_cidr": "10.233.0.0/18"}


def _network_problems(data: dict[str, Any]) -> list[Problem]:
    network = data.get("network") if isinstance(data.get("network"), dict) else {}
    assert isinstance(network, dict)
    problems: list[Problem] = []
    parsed: dict[str, ipaddress.IPv4Network] = {}
    for field in ("pod_cidr", "service_cidr", "node_cidr"):
        value = network.get(field)
        if value is None:
            if field in DEFAULT_CIDRS:
                parsed[field] = ipaddress.IPv4Network(DEFAULT_CIDRS[field])
            continue
        net = _network(value)
        example = DEFAULT_CIDRS.get(field, "10.0.0.0/16")
        if net is None:
            problems.append(
                Problem(
                    f"network.{field}",
                    f"'{shown(value)}' is not an {names.SUPPORTED_FAMILY} network in CIDR form",
                    f"write it like {example}, with no host bits set",
                )
            )
        elif isinstance(net, ipaddress.IPv6Network):
            problems.append(
                Problem(
                    f"network.{field}",
                    f"{shown(value)}: {names.IPV6_REFUSED}",
                    f"use an {names.SUPPORTED_FAMILY} network, like {example}",
                )
            )
        else:
            parsed[field] = net
    service = parsed.get("service_cidr")
    if service is not None and network.get("service_cidr") is not None:
        if service.prefixlen > SERVICE_PREFIX_SMALLEST:
            problems.append(
                Problem(
                    "network.service_cidr",
                    f"{service} holds {service.num_addresses} addresses: too few for the "
                    "kubernetes Service (its first address), the cluster DNS (its third) "
                    "and the other Services",
                    f"use a /{SERVICE_PREFIX_SMALLEST} or larger range, like 10.233.0.0/18",
                )
            )
        elif service.prefixlen < SERVICE_PREFIX_LARGEST:
            problems.append(
                Problem(
                    "network.service_cidr",
                    f"{service} is larger than the /{SERVICE_PREFIX_LARGEST} the API server "
                    "accepts",
                    f"use a /{SERVICE_PREFIX_LARGEST} to /{SERVICE_PREFIX_SMALLEST} range, "
                    "like 10.233.0.0/18",
                )
            )
    names_ = list(parsed)
    for i, first in enumerate(names_):
        for second in names_[i + 1 :]:
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
            value = node.get(field)
            ip = names.ip_literal(value) if isinstance(value, str) else None
            if ip is None:
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
    problems += _node_prefix_problems(network, parsed.get("pod_cidr"), len(_nodes(data)))
    problems += _plugin_problems(data, network)
    return problems


def _node_prefix_problems(
    network: dict[str, Any], pod: ipaddress.IPv4Network | None, count: int
) -> list[Problem]:
    """node_prefix against pod_cidr; a fix is only ever one the schema allows."""
    prefix = network.get("node_prefix", 24)
    if pod is None or not isinstance(prefix, int) or isinstance(prefix, bool):
        return []
    low, high = NODE_PREFIX_RANGE
    if not low <= prefix <= high:
        return []  # the schema reports it
    if prefix <= pod.prefixlen:
        if pod.prefixlen >= high:
            fix = f"widen pod_cidr to /{high - 1} or larger (node_prefix is at most {high})"
        else:
            fix = f"use a node_prefix from {max(low, pod.prefixlen + 1)} to {high}"
        return [
            Problem(
                "network.node_prefix",
                f"/{prefix} is not smaller than pod_cidr /{pod.prefixlen}",
                fix,
            )
        ]
    room = 2 ** (prefix - pod.prefixlen)
    if room >= count:
        return []
    bits = (count - 1).bit_length()
    if pod.prefixlen + bits <= high:
        fix = f"raise node_prefix to {pod.prefixlen + bits}, or widen pod_cidr"
    else:
        fix = f"widen pod_cidr to /{max(1, prefix - bits)} or larger"
    return [
        Problem(
            "network.pod_cidr",
            f"{pod} holds only {room} node ranges of /{prefix}, but there are {count} nodes",
            fix,
        )
    ]


def _lock(data: dict[str, Any]) -> dict[str, Any] | None:
    engine = data.get("engine") if isinstance(data.get("engine"), dict) else {}
    assert isinstance(engine, dict)
    try:
        return engine_releases.lock(str(engine.get("release", engine_releases.DEFAULT_RELEASE)))
    except KeyError:
        return None  # _version_problems reports the release


def _choice(path: str, message: str, value: Any, allowed: list[str]) -> list[Problem]:
    """value must be one of allowed (a set the engine lock defines), with a did-you-mean."""
    if isinstance(value, str) and value in allowed:
        return []
    close = _close(value, allowed)
    listed = ", ".join(allowed)
    fix = f"did you mean '{close}'? (one of: {listed})" if close else f"use one of: {listed}"
    return [Problem(path, message, fix)]


def _plugin_problems(data: dict[str, Any], network: dict[str, Any]) -> list[Problem]:
    lock = _lock(data)
    plugin = network.get("plugin")
    if lock is None or plugin is None or not isinstance(plugin, str):
        return []
    return _choice(
        "network.plugin",
        f"'{shown(plugin)}' is neither a network plugin Kubespray {lock['release']} deploys "
        "nor one of k8s-install's own",
        plugin,
        [*lock["network_plugins"], *OWN_PLUGINS],
    )


def _version_problems(data: dict[str, Any]) -> list[Problem]:
    engine = data.get("engine") if isinstance(data.get("engine"), dict) else {}
    assert isinstance(engine, dict)
    release = str(engine.get("release", engine_releases.DEFAULT_RELEASE))
    if release not in engine_releases.releases():
        return _choice(
            "engine.release",
            f"unknown engine release '{shown(release)}'",
            release,
            engine_releases.releases(),
        )
    try:
        lock = engine_releases.lock(release)
    except KeyError:
        return _choice(
            "engine.release",
            f"unknown engine release '{shown(release)}'",
            release,
            engine_releases.releases(),
        )
    kubernetes = data.get("kubernetes")
    version = kubernetes.get("version") if isinstance(kubernetes, dict) else None
    if not isinstance(version, str):
        return []
    supported = list(lock["kubernetes_versions"])
    if version.lstrip("v") not in supported:
        close = _close(version.lstrip("v"), supported)
        listed = ", ".join(supported)
        return [
            Problem(
                "kubernetes.version",
                f"Kubernetes {shown(version)} is not supported by Kubespray {release}",
                f"did you mean '{close}'? (one of: {listed})" if close else f"use one of: {listed}",
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
    nodes = _nodes(data)
    known = {str(n.get("name")).lower() for n in nodes if isinstance(n.get("name"), str)} | {
        names.canonical_address(n["address"]) for n in nodes if isinstance(n.get("address"), str)
    }
    if host and (not isinstance(host, str) or names.canonical_address(host) not in known):
        listed = sorted(str(n.get("name")) for n in nodes if n.get("name"))
        problems.append(
            Problem(
                "offline.repo_host",
                f"'{shown(host)}' is not a node name or address",
                f"use one of: {', '.join(shown(n, 64) for n in listed[:20])}",
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
