"""The syntax of names and addresses: hosts, IP literals, Kubernetes labels and taints.

Pure functions, no I/O. Each check returns the reason a value is wrong ("" when it is fine), so
the validator can say what is wrong rather than quote a regular expression. IP literals are
parsed with `ipaddress`, which refuses leading zeros (192.0.2.021 would be octal to many
resolvers), out-of-range octets and malformed IPv6.
"""

from __future__ import annotations

import ipaddress
import re

# k8s-install installs IPv4 single-stack clusters: the engine variables it writes (pod and service
# ranges, node IPs) are IPv4 only. IPv6 and dual-stack are refused with this reason.
SUPPORTED_FAMILY = "IPv4"
IPV6_REFUSED = (
    "IPv6 is not supported: k8s-install installs IPv4 single-stack clusters "
    "(no IPv6, no dual-stack)"
)

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_IPV4_LIKE = re.compile(r"[0-9.]+")
_SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_literal(text: str) -> IPAddress | None:
    """text as an IP address, parsed strictly; None when it is not an IP literal at all."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def looks_like_ip(text: str) -> bool:
    """Whether text was meant as an IP literal: only digits and dots, or a ':' (IPv6)."""
    return bool(_IPV4_LIKE.fullmatch(text)) or ":" in text


def ip_problem(text: str) -> str:
    """Why text is not a usable IP address ("" when it is an IPv4 address)."""
    if not text:
        return "empty, an IP address is needed"
    if ":" in text:
        parsed = ip_literal(text)
        return IPV6_REFUSED if parsed is not None else "not a valid IP address"
    if ip_literal(text) is None:
        if re.fullmatch(r"[0-9.]+", text) and any(
            len(part) > 1 and part.startswith("0") for part in text.split(".")
        ):
            return (
                "not a valid IPv4 address: a part has a leading zero, "
                "which many resolvers read as octal"
            )
        return "not a valid IPv4 address (four numbers 0-255, no leading zeros)"
    return ""


def hostname_problem(text: str) -> str:
    """Why text is not an RFC 1123 host name ("" when it is one)."""
    if not text:
        return "empty, a host name or IP address is needed"
    name = text[:-1] if text.endswith(".") else text
    if len(name) > 253:
        return "longer than 253 characters"
    labels = name.split(".")
    for label in labels:
        if not label:
            return "has an empty part (two dots in a row, or a leading dot)"
        if len(label) > 63:
            return "has a part longer than 63 characters"
        if not _HOST_LABEL.fullmatch(label):
            return (
                "is not an RFC 1123 host name: letters, digits and '-' in dot-separated "
                "parts, each starting and ending with a letter or digit"
            )
    if labels[-1].isdigit():
        return "is not a host name (its last part is a number) nor a valid IPv4 address"
    return ""


def address_problem(text: str) -> str:
    """Why text is neither an IPv4 address nor a host name ("" when it is one)."""
    if looks_like_ip(text):
        return ip_problem(text)
    return hostname_problem(text)


def canonical_address(text: str) -> str:
    """The form two addresses are compared in: normalised IP, or lower-case host name."""
    parsed = ip_literal(text)
    if parsed is not None:
        return str(parsed)
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
        return ".".join(str(int(p)) for p in parts)  # 192.0.2.021 is 192.0.2.21 to a resolver
    return text.lower().removesuffix(".")


def ssh_user_problem(text: str) -> str:
    """Why text is not a plausible login name ("" when it is)."""
    if not text:
        return "empty"
    if len(text) > 64 or not _SSH_USER.fullmatch(text):
        return (
            "not a login name: letters, digits, '_', '.', '@' and '-', "
            "not starting with '-', at most 64 characters"
        )
    return ""


def dns_subdomain_problem(text: str) -> str:
    """Why text is not a lower-case RFC 1123 subdomain (a label key prefix)."""
    if not text:
        return "the prefix before '/' is empty"
    if len(text) > 253:
        return "the prefix before '/' is longer than 253 characters"
    if not all(_LABEL.fullmatch(part) for part in text.split(".")):
        return (
            "the prefix before '/' must be a DNS subdomain: lower-case letters, digits, "
            "'-' and '.', like example.com"
        )
    return ""


def label_key_problem(key: str) -> str:
    """Why key is not a Kubernetes label key ("" when it is): [prefix/]name."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        reason = dns_subdomain_problem(prefix)
        if reason:
            return reason
    if not name:
        return "the name part is empty"
    if len(name) > 63:
        return "the name part is longer than 63 characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            "the name part must be letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    return ""


def label_value_problem(value: str) -> str:
    """Why value is not a Kubernetes label value ("" when it is; empty is allowed)."""
    if not value:
        return ""
    if len(value) > 63:
        return "longer than 63 characters"
    if not _QUALIFIED_NAME.fullmatch(value):
        return (
            "must be letters, digits, '-', '_' and '.', starting and ending with a letter "
            "or digit (or empty)"
        )
    return ""


def taint_problems(taint: str) -> list[str]:
    """Why taint is not key[=value]:Effect (empty when it is)."""
    head, colon, effect = taint.rpartition(":")
    if not colon:
        return [f"has no effect: write key=value:Effect, Effect one of {', '.join(TAINT_EFFECTS)}"]
    found = []
    key, _eq, value = head.partition("=")
    reason = label_key_problem(key)
    if reason:
        found.append(f"key: {reason}")
    reason = label_value_problem(value)
    if reason:
        found.append(f"value: {reason}")
    if effect not in TAINT_EFFECTS:
        found.append(f"effect: unknown; the effects are {', '.join(TAINT_EFFECTS)}")
    return found
