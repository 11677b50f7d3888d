"""What addons need of the engine's settings, checked before any host is touched.

- MetalLB (the metallb or metallb-pool preset, or a chart named metallb) answers ARP for its
  addresses; kube-proxy in ipvs mode answers too unless strict ARP is on. Kubespray's own
  roles/kubernetes-apps/metallb refuses the same combination (kube_proxy_mode ipvs without
  kube_proxy_strict_arp).
- Traefik's chart ships no Gateway API CRDs: with its Gateway provider on (the traefik preset
  turns it on), the engine must install them (gateway_api_enabled).

Both settings live in the `kubespray:` section; absent, the pinned engine's defaults apply.
"""

from __future__ import annotations

from typing import Any

from k8s_install.base.errors import Problem
from k8s_install.model.addon_releases import Release, expand, globals_of, resolve_values

# Kubespray v2.31.0 roles/kubespray_defaults/defaults/main/main.yml and
# roles/kubernetes/control-plane/defaults/main/kube-proxy.yml.
ENGINE_DEFAULTS: dict[str, Any] = {
    "kube_proxy_mode": "ipvs",
    "kube_proxy_strict_arp": False,
    "gateway_api_enabled": False,
}
METALLB = ("metallb", "metallb-pool")


def _setting(data: dict[str, Any], name: str) -> Any:
    overrides = data.get("kubespray")
    if isinstance(overrides, dict) and name in overrides:
        return overrides[name]
    return ENGINE_DEFAULTS[name]


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _chart_name(release: Release) -> str:
    return release.chart.rstrip("/").rsplit("/", 1)[-1]


def _lookup(values: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(values, dict):
            return None
        values = values.get(key)
    return values


def problems(data: dict[str, Any]) -> list[Problem]:
    addons = data.get("addons")
    if not isinstance(addons, dict):
        return []
    releases, _ = expand(addons)
    active = [r for r in releases if r.enabled]
    found: list[Problem] = []
    metallb = [r for r in active if r.preset in METALLB or _chart_name(r) == "metallb"]
    mode = _setting(data, "kube_proxy_mode")
    if metallb and str(mode) == "ipvs" and not _true(_setting(data, "kube_proxy_strict_arp")):
        given = "set" if "kube_proxy_mode" in (data.get("kubespray") or {}) else "the default"
        found.append(
            Problem(
                "kubespray.kube_proxy_strict_arp",
                f"MetalLB ({metallb[0].path}, release '{metallb[0].name}') needs strict ARP "
                f"when kubespray.kube_proxy_mode is ipvs ({given}); kubespray."
                "kube_proxy_strict_arp is not true, so kube-proxy would answer ARP for the "
                "LoadBalancer addresses too",
                "set kubespray.kube_proxy_strict_arp: true (or kubespray.kube_proxy_mode: "
                "iptables or nftables)",
            )
        )
    if not _true(_setting(data, "gateway_api_enabled")):
        globals_ = globals_of(addons)
        for release in active:
            if release.preset != "traefik" and _chart_name(release) != "traefik":
                continue
            values, _ = resolve_values(release, globals_)
            if _lookup(values, "providers", "kubernetesGateway", "enabled") is True:
                found.append(
                    Problem(
                        "kubespray.gateway_api_enabled",
                        f"release '{release.name}' ({release.path}) runs Traefik's Gateway API "
                        "provider, and its chart ships no Gateway API CRDs",
                        "set kubespray.gateway_api_enabled: true (the engine installs the "
                        "Gateway API v1.5.1 standard CRDs), or set "
                        f"{release.path}.values.providers.kubernetesGateway.enabled: false",
                    )
                )
    return found
