"""The config reference in docs/, generated from the JSON Schema so the two never disagree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from k8s_install.base.errors import SHOWN_CHARS
from k8s_install.model import names, validate, yamlfile
from k8s_install.model.schema import CLUSTER_SCHEMA, OWN_PLUGINS

HEADER = """# cluster.yaml reference

Generated from the JSON Schema by `k8s-install schema --format markdown`; do not edit.
Unknown keys are errors. `k8s-install validate` checks a file against this and more.

| field | type | default | description |
| --- | --- | --- | --- |
"""


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(kind)


def _rows(schema: dict[str, Any], prefix: str) -> Iterator[str]:
    required = set(schema.get("required", []))
    for name, child in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        default = f"`{json.dumps(child['default'])}`" if "default" in child else ""
        mark = " (required)" if name in required else ""
        description = child.get("description", "").replace("|", "\\|")
        yield f"| `{path}` | {_type(child)}{mark} | {default} | {description} |\n"
        if child.get("type") == "object":
            yield from _rows(child, f"{path}.")
        items = child.get("items", {})
        if child.get("type") == "array" and items.get("type") == "object":
            yield from _rows(items, f"{path}[].")


def _footer() -> str:
    low, high = validate.NODE_PREFIX_RANGE
    return f"""
## Checked beyond the schema

- **Addresses.** `address` is an IPv4 address or an RFC 1123 host name; `internal_address` is an
  IPv4 address. IP literals are parsed strictly: no leading zeros (`192.0.2.021` is octal to many
  resolvers), no octet over 255. Names and addresses must be unique as the network sees them:
  host names compared case-insensitively, addresses in normal form.
- **IPv4 only.** k8s-install installs {names.SUPPORTED_FAMILY} single-stack clusters. IPv6
  addresses and networks, and dual-stack, are refused with that reason.
- **Kubernetes syntax.** Label keys are `[prefix/]name`: the prefix a lower-case DNS subdomain of
  at most 253 characters, the name at most 63 characters of letters, digits, `-`, `_` and `.`,
  starting and ending with a letter or digit; values follow the name rule and may be empty.
  Taints are `key[=value]:Effect`, Effect one of {", ".join(names.TAINT_EFFECTS)}.
- **Networks.** `service_cidr` is a /{validate.SERVICE_PREFIX_LARGEST} to
  /{validate.SERVICE_PREFIX_SMALLEST} range: it holds the kubernetes Service (its first address),
  the cluster DNS (its third) and the other Services. `node_prefix` ({low} to {high}) is longer
  than `pod_cidr`'s prefix, and `pod_cidr` holds a node range for every node.
- **Engine choices.** `engine.release`, `kubernetes.version` and `network.plugin` are checked
  against the engine release's lock (`k8s-install engine info`), with a did-you-mean;
  `network.plugin` may also be one of k8s-install's own ({", ".join(f"`{p}`" for p in OWN_PLUGINS)}).
- **Secrets.** A value under a secret-like key (password, token, ...) written in the clear, as a
  string or a number, is an error. `!vault` takes ansible-vault ciphertext only, on a single value.
- **Limits.** A cluster file is a regular file of at most {yamlfile.MAX_BYTES // 1024} KiB whose
  top level is a mapping, with at most {yamlfile.MAX_VALUES:,} values after YAML aliases are
  expanded ({yamlfile.MAX_ALIASES:,} aliases), {yamlfile.MAX_DEPTH} levels of nesting and numbers
  of at most {yamlfile.MAX_INT_DIGITS} characters. Messages quote a value to at most
  {SHOWN_CHARS} characters, and never quote a file that has none of the top-level keys above.
  YAML merge keys (`<<: *defaults`) work; keys written beside them win.
"""


def markdown() -> str:
    return HEADER + "".join(_rows(CLUSTER_SCHEMA, "")) + _footer()
