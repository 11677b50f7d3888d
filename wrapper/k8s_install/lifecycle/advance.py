"""What each action of a plan adds to the applied state when it succeeds.

`apply` writes state/applied.yaml after every successful action, not only after a whole plan,
so a plan that fails or is interrupted resumes at the action that did not finish: the next
plan, made from the advanced state, no longer holds the actions already done. A node removed
before a blocked drain of another is not removed twice; workers added before a failed addons
run are not added again.

An etcd member's removal is followed by the engine's reconfiguration of the members left
(etcd_leave). Until that succeeds, the state keeps a note of it (ETCD_LEAVE_PENDING), so the
next plan runs it even though the member is no longer in the applied nodes.
"""

from __future__ import annotations

import copy
from typing import Any

from k8s_install.lifecycle.plan import ETCD_LEAVE_PENDING, Action


def after(
    applied: dict[str, Any] | None, desired: dict[str, Any], action: Action
) -> dict[str, Any] | None:
    """The applied spec once `action` succeeded; None when nothing is applied (a reset)."""
    kind = action.kind
    if kind == "reset":
        return None
    if kind in ("install", "converge", "upgrade") or applied is None:
        return copy.deepcopy(desired)
    state = copy.deepcopy(applied)
    if kind == "addons":
        state["addons"] = copy.deepcopy(desired.get("addons") or {})
    elif kind in ("scale", "etcd_join"):
        joined = set(action.data.get("joining") or action.nodes)
        state["nodes"] = _merged_nodes(state, desired, joined)
    elif kind == "remove_node":
        name = action.nodes[0]
        removed = [n for n in state.get("nodes") or [] if n.get("name") == name]
        state["nodes"] = [n for n in state.get("nodes") or [] if n.get("name") != name]
        if any("etcd" in (n.get("roles") or []) for n in removed):
            pending = [*state.get(ETCD_LEAVE_PENDING, []), name]
            state[ETCD_LEAVE_PENDING] = sorted(set(pending))
    elif kind == "etcd_leave":
        state.pop(ETCD_LEAVE_PENDING, None)
    return state


def _merged_nodes(
    state: dict[str, Any], desired: dict[str, Any], joined: set[str]
) -> list[dict[str, Any]]:
    """The applied nodes plus the joined ones, in cluster.yaml's order (applied ones first
    where cluster.yaml no longer lists them)."""
    have = {str(n.get("name")): n for n in state.get("nodes") or []}
    for node in desired.get("nodes") or []:
        if node.get("name") in joined:
            have[str(node["name"])] = copy.deepcopy(node)
    order = [str(n.get("name")) for n in desired.get("nodes") or []]
    ordered = [have[name] for name in order if name in have]
    return ordered + [n for name, n in have.items() if name not in order]


def pending_etcd_leave(applied: dict[str, Any] | None) -> list[str]:
    """Removed etcd members whose reconfiguration of the others has not run yet."""
    return [str(n) for n in (applied or {}).get(ETCD_LEAVE_PENDING) or []]
