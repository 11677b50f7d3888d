"""The plan: the minimal set of actions that takes the cluster from what was applied to cluster.yaml.

Pure logic on two defaulted specs (desired and last applied); it never contacts a host. The
apply module turns each action into one Ansible run; a plan with no actions runs nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from k8s_install.addons import order
from k8s_install.ansible import actions as action_table
from k8s_install.base.errors import InvalidInput, Problem
from k8s_install.model.config import with_defaults

# The kinds of action, in the order they are applied (their playbooks: ansible/actions.py).
ORDER = list(action_table.LIFECYCLE)

# A key of the applied state, not a setting: removed etcd members whose reconfiguration of the
# others (etcd_leave) has not run yet (lifecycle/advance.py).
ETCD_LEAVE_PENDING = "k8s_install_etcd_leave_pending"
# Settings compared on their own, not as "other settings".
OWN_SECTIONS = ("nodes", "addons", "kubernetes.version", "engine.release", ETCD_LEAVE_PENDING)
# How k8s-install reaches hosts: a change needs no run of its own (the next run uses it).
CONNECTION = ("access",)
CONNECTION_NODE_FIELDS = ("ssh_user", "ssh_port")
# Settings an installed cluster cannot change in place.
IMMUTABLE = {
    "network.pod_cidr": "the pod network of a running cluster",
    "network.service_cidr": "the service network of a running cluster",
    "network.node_prefix": "the per-node pod ranges of a running cluster",
    "network.plugin": "the CNI plugin of a running cluster",
}


@dataclass(frozen=True)
class Action:
    """One Ansible run: what it does in plain words, and where it runs."""

    kind: str
    summary: str
    nodes: tuple[str, ...] = ()
    limit: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def playbook(self) -> str:
        return action_table.playbook(self.kind)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "playbook": self.playbook,
            "summary": self.summary,
            "nodes": list(self.nodes),
            "limit": list(self.limit),
            "details": list(self.details),
            **({"data": self.data} if self.data else {}),
        }


@dataclass(frozen=True)
class Plan:
    cluster: str
    first_install: bool
    actions: tuple[Action, ...] = ()
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        return bool(self.actions)

    @property
    def blocked(self) -> bool:
        return bool(self.problems)

    def kinds(self) -> list[str]:
        return [a.kind for a in self.actions]

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "first_install": self.first_install,
            "changes": self.changes,
            "blocked": self.blocked,
            "actions": [a.as_dict() for a in self.actions],
            "problems": [p.as_dict() for p in self.problems],
            "notes": list(self.notes),
        }


# Helpers


def parse_version(text: str) -> tuple[int, int, int]:
    parts = str(text).lstrip("v").split(".")
    numbers = [int(p) for p in parts[:3]] + [0] * (3 - len(parts[:3]))
    return numbers[0], numbers[1], numbers[2]


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """('a.b', leaf) pairs; lists are leaves, compared whole; an empty mapping is no setting."""
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _excluded(path: str) -> bool:
    return any(path == own or path.startswith(own + ".") for own in (*OWN_SECTIONS, *CONNECTION))


def changed_settings(desired: dict[str, Any], applied: dict[str, Any]) -> list[str]:
    """Paths of settings that differ, outside nodes, addons, version and connection."""
    new = {p: v for p, v in flatten(desired) if not _excluded(p)}
    old = {p: v for p, v in flatten(applied) if not _excluded(p)}
    return sorted(p for p in set(new) | set(old) if new.get(p, _MISSING) != old.get(p, _MISSING))


_MISSING = object()


def _nodes(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(n["name"]): n for n in spec.get("nodes") or []}


def _roles(node: dict[str, Any]) -> set[str]:
    return set(node.get("roles") or [])


def _cluster_ip(node: dict[str, Any]) -> str:
    return str(node.get("internal_address") or node.get("address"))


def _ssh_address(node: dict[str, Any]) -> str:
    return str(node.get("address"))


def _ordered(spec: dict[str, Any], role: str) -> list[str]:
    return [str(n["name"]) for n in spec.get("nodes") or [] if role in (n.get("roles") or [])]


def _names(names: Collection[str]) -> str:
    items = sorted(names)
    return ", ".join(items)


def _release_key(release: dict[str, Any]) -> str:
    return str(release.get("name") or release.get("preset") or "?")


# The comparison


def compare(
    desired: dict[str, Any],
    applied: dict[str, Any] | None,
    *,
    cached_facts: Collection[str] | None = None,
) -> Plan:
    """The plan from `applied` (None: nothing applied yet) to `desired`.

    cached_facts names the nodes whose facts are in the fact cache and fresh; None means
    unknown, and no facts refresh is planned.
    """
    name = str(desired.get("name", ""))
    if applied is None:
        count = len(desired.get("nodes") or [])
        return Plan(
            name,
            first_install=True,
            actions=(
                Action(
                    "install",
                    f"First install: the engine's full cluster.yml run on all {count} nodes, "
                    "then addons and post-checks.",
                    nodes=tuple(sorted(_nodes(desired))),
                ),
            ),
        )
    applied = with_defaults(applied)
    problems: list[Problem] = []
    notes: list[str] = []
    actions: list[Action] = []

    new_nodes, old_nodes = _nodes(desired), _nodes(applied)
    added = sorted(set(new_nodes) - set(old_nodes))
    removed = sorted(set(old_nodes) - set(new_nodes))
    kept = sorted(set(new_nodes) & set(old_nodes))
    settings = changed_settings(desired, applied)

    for node_name in kept:
        settings += _node_changes(new_nodes[node_name], old_nodes[node_name], problems, notes)
    for role, label in (("control-plane", "control-plane"), ("etcd", "etcd")):
        wanted = _ordered(desired, role)
        if wanted and wanted[0] in added and _ordered(applied, role):
            problems.append(
                Problem(
                    "nodes",
                    f"the new node {wanted[0]} is the first {label} node: the engine joins "
                    f"new {label} nodes to the first one, which must already be running",
                    f"list {wanted[0]} after the existing {label} nodes",
                )
            )
        before = [n for n in _ordered(applied, role) if n in new_nodes]
        after = [n for n in _ordered(desired, role) if n in old_nodes]
        if before and after and before[0] != after[0]:
            settings.append(f"nodes (the first {label} node is now {after[0]}, was {before[0]})")
    _connection_notes(desired, applied, notes)
    _immutable(settings, problems)

    version = _version_change(desired, applied, problems)
    if version and (added or removed):
        problems.append(
            Problem(
                "kubernetes.version",
                "the version and the nodes change in the same step: "
                f"{'adding ' + _names(added) if added else ''}"
                f"{' and ' if added and removed else ''}"
                f"{'removing ' + _names(removed) if removed else ''}",
                "apply the node changes first with the current version, then change the version",
            )
        )
    _removal_problems(applied, removed, problems)

    addons = _addons_change(desired, applied)
    joins_etcd = [n for n in added if "etcd" in _roles(new_nodes[n])]
    joins_control_plane = [
        n for n in added if "control-plane" in _roles(new_nodes[n]) and n not in joins_etcd
    ]
    leaves_etcd = [n for n in removed if "etcd" in _roles(old_nodes[n])]
    leaves_etcd += [str(n) for n in applied.get(ETCD_LEAVE_PENDING) or [] if n not in leaves_etcd]
    workers_added = [n for n in added if n not in joins_etcd]
    converge_reasons = list(settings)
    if joins_control_plane:
        converge_reasons.append(
            f"new control-plane node(s) {_names(joins_control_plane)} join through the "
            "engine's cluster.yml"
        )
    if joins_etcd and not version:
        actions.append(_etcd_join(joins_etcd, desired))
    if version:
        actions.append(version)
        if converge_reasons:
            notes.append(
                "the upgrade run also applies the changed settings: " + ", ".join(settings)
            )
        converge_reasons = []
    if converge_reasons:
        actions.append(
            Action(
                "converge",
                f"Settings changed: a full converge (the engine's cluster.yml on all "
                f"{len(new_nodes)} nodes, then addons and post-checks) for "
                + "; ".join(converge_reasons),
                nodes=tuple(sorted(new_nodes)),
                details=tuple(converge_reasons),
            )
        )
    elif workers_added and not version:
        actions.append(
            Action(
                "scale",
                f"Add {len(workers_added)} node(s) {_names(workers_added)}: the engine's scale "
                "playbook limited to them; the other nodes are not touched.",
                nodes=tuple(workers_added),
                limit=tuple(workers_added),
            )
        )
    for node_name in removed:
        actions.append(
            Action(
                "remove_node",
                f"Remove node {node_name}: cordon and drain it, remove it from the cluster "
                "(and its etcd member), then reset it. A failed drain stops the run and "
                "uncordons the node; it is never removed anyway.",
                nodes=(node_name,),
                data={"node": old_nodes[node_name]},
            )
        )
    if leaves_etcd:
        actions.append(_etcd_leave(leaves_etcd, desired))
    converging = any(a.kind == "converge" for a in actions)
    if addons and not converging:
        actions.append(addons)
    elif addons and addons.data.get("prune"):
        notes.append("the converge also prunes addon releases: " + ", ".join(addons.data["prune"]))
    limited = [a for a in actions if a.kind in ("scale", "remove_node", "etcd_join")]
    if limited and cached_facts is not None:
        missing = sorted(n for n in kept if n not in cached_facts)
        if missing:
            actions.insert(
                0,
                Action(
                    "facts",
                    f"Refresh the cached facts of {_names(missing)} (missing or stale), which "
                    "the limited runs read for the nodes they do not touch.",
                    nodes=tuple(missing),
                    limit=tuple(missing),
                ),
            )
    actions.sort(key=lambda a: ORDER.index(a.kind))
    if problems:
        actions = []
    return Plan(name, False, tuple(actions), tuple(problems), tuple(notes))


# Hosts an etcd join runs on (the engine's documented --limit): the members and the API servers.
ETCD_JOIN_LIMIT = ("etcd", "kube_control_plane")


def _etcd_join(joining: list[str], desired: dict[str, Any]) -> Action:
    members = _ordered(desired, "etcd")
    hosts = sorted(set(members) | set(_ordered(desired, "control-plane")))
    return Action(
        "etcd_join",
        f"Join etcd member(s) {_names(joining)}: the engine's cluster.yml limited to the etcd "
        f"and control-plane nodes ({_names(hosts)}), which adds each member one at a time, "
        "then rewrites every member's configuration and the API servers' --etcd-servers "
        f"for the {len(members)} members. Workers are not touched.",
        nodes=tuple(hosts),
        limit=ETCD_JOIN_LIMIT,
        details=tuple(f"etcd member joins: {n}" for n in joining),
        data={"members": members, "joining": list(joining)},
    )


def _etcd_leave(leaving: list[str], desired: dict[str, Any]) -> Action:
    members = _ordered(desired, "etcd")
    return Action(
        "etcd_leave",
        f"After {_names(leaving)} left etcd: the engine's cluster.yml on the "
        f"{len(_nodes(desired))} remaining nodes, which rewrites every configuration that lists "
        f"the etcd members, and the API servers' --etcd-servers, for the {len(members)} left.",
        nodes=tuple(sorted(_nodes(desired))),
        details=tuple(f"etcd member leaves: {n}" for n in leaving),
        data={"members": members},
    )


def with_converge(plan: Plan, desired: dict[str, Any]) -> Plan:
    """The plan with a full converge added, when it has none and nothing blocks it.

    What `up --converge` runs on a cluster that matches cluster.yaml: every setting is applied
    again (the engine's cluster.yml, our roles, addons, post-checks), which repairs hand edits.
    """
    if (
        plan.blocked
        or plan.first_install
        or any(a.kind in ("converge", "upgrade") for a in plan.actions)
    ):
        return plan
    nodes = tuple(sorted(_nodes(desired)))
    converge = Action(
        "converge",
        f"Requested converge: the engine's cluster.yml on all {len(nodes)} nodes, then addons "
        "and post-checks, although cluster.yaml matches what was applied.",
        nodes=nodes,
        details=("requested with --converge",),
    )
    kept = [a for a in plan.actions if a.kind not in ("addons",)]
    actions = sorted([*kept, converge], key=lambda a: ORDER.index(a.kind))
    return Plan(plan.cluster, False, tuple(actions), plan.problems, plan.notes)


def _node_changes(
    new: dict[str, Any], old: dict[str, Any], problems: list[Problem], notes: list[str]
) -> list[str]:
    name = str(new["name"])
    where = f"nodes[{name}]"
    if _roles(new) != _roles(old):
        problems.append(
            Problem(
                f"{where}.roles",
                f"the roles of the joined node {name} change from "
                f"{sorted(_roles(old))} to {sorted(_roles(new))}",
                f"remove {name} (delete it from cluster.yaml, run up), then add it back "
                "with the new roles",
            )
        )
    if _cluster_ip(new) != _cluster_ip(old):
        problems.append(
            Problem(
                f"{where}.{'internal_address' if new.get('internal_address') else 'address'}",
                f"the cluster address of the joined node {name} changes from "
                f"{_cluster_ip(old)} to {_cluster_ip(new)}",
                f"remove {name}, then add it back with the new address",
            )
        )
    elif _ssh_address(new) != _ssh_address(old):
        notes.append(f"{where}.address (SSH only) changed; the next run uses it")
    for field_name in CONNECTION_NODE_FIELDS:
        if new.get(field_name) != old.get(field_name):
            notes.append(f"{where}.{field_name} changed; the next run uses it")
    return [
        f"{where}.{field_name}"
        for field_name in ("labels", "taints")
        if (new.get(field_name) or None) != (old.get(field_name) or None)
    ]


def _connection_notes(desired: dict[str, Any], applied: dict[str, Any], notes: list[str]) -> None:
    for section in CONNECTION:
        new = dict(flatten({section: desired.get(section)}))
        old = dict(flatten({section: applied.get(section)}))
        paths = sorted(p for p in set(new) | set(old) if new.get(p) != old.get(p))
        if paths:
            notes.append(
                "connection settings changed (" + ", ".join(paths) + "); the next run uses them "
                "and they need no run of their own"
            )


def _immutable(settings: list[str], problems: list[Problem]) -> None:
    for path in settings:
        if path in IMMUTABLE:
            problems.append(
                Problem(
                    path,
                    f"cannot change {IMMUTABLE[path]}",
                    "put back the applied value; a new value needs a new cluster "
                    "(`k8s-install reset --yes`, then `k8s-install up`)",
                )
            )


def _version_change(
    desired: dict[str, Any], applied: dict[str, Any], problems: list[Problem]
) -> Action | None:
    new = str(desired["kubernetes"]["version"]).lstrip("v")
    old = str(applied["kubernetes"]["version"]).lstrip("v")
    new_engine = str(desired["engine"]["release"])
    old_engine = str(applied["engine"]["release"])
    if new == old and new_engine == old_engine:
        return None
    new_v, old_v = parse_version(new), parse_version(old)
    if new_v < old_v:
        problems.append(
            Problem(
                "kubernetes.version",
                f"{new} is older than the applied {old}: Kubernetes cannot be downgraded",
                f"put back {old} or a newer version",
            )
        )
        return None
    if new_v[0] != old_v[0] or new_v[1] > old_v[1] + 1:
        step = f"{old_v[0]}.{old_v[1] + 1}"
        problems.append(
            Problem(
                "kubernetes.version",
                f"{old} to {new} skips a minor version: Kubernetes upgrades one minor at a time",
                f"upgrade to a {step}.x release first, then to {new}",
            )
        )
        return None
    what = (
        f"Kubernetes {old} to {new}" if new != old else f"the engine {old_engine} to {new_engine}"
    )
    details = [f"kubernetes.version: {old} -> {new}"] if new != old else []
    if new_engine != old_engine:
        details.append(f"engine.release: {old_engine} -> {new_engine}")
    return Action(
        "upgrade",
        f"Upgrade {what}: an etcd snapshot first, the control plane one node at a time, "
        "then workers in batches with drain and uncordon. The live version is checked first.",
        nodes=tuple(sorted(_nodes(desired))),
        details=tuple(details),
        data={"from": old, "to": new},
    )


def _removal_problems(applied: dict[str, Any], removed: list[str], problems: list[Problem]) -> None:
    for role in ("control-plane", "etcd"):
        ordered = _ordered(applied, role)
        if ordered and ordered[0] in removed:
            problems.append(
                Problem(
                    f"nodes[{ordered[0]}]",
                    f"{ordered[0]} is the first {role} node; the engine cannot remove it",
                    f"first move {ordered[0]} after another {role} node in cluster.yaml and run "
                    "`k8s-install up`, then remove it (see docs/lifecycle.md)",
                )
            )
        remaining = [n for n in ordered if n not in removed]
        if ordered and not remaining:
            problems.append(
                Problem(
                    "nodes",
                    f"removing {_names(removed)} leaves no {role} node",
                    f"keep at least one {role} node",
                )
            )


def _addons_change(desired: dict[str, Any], applied: dict[str, Any]) -> Action | None:
    """The addon releases to install, upgrade and prune, in the order the addons play runs them.

    Disabled (`enabled: false`) and deleted releases are pruned, removals first.
    """
    new = desired.get("addons") or {}
    old = applied.get("addons") or {}
    if new == old:
        return None
    try:
        data = order.summary(order.changes(new, old))
    except order.CycleError as exc:
        raise InvalidInput(f"addons: {exc}", fix="run `k8s-install validate`") from exc
    details = list(data.pop("details"))
    if new.get("globals") != old.get("globals"):
        details.append("addons.globals changed: every release is rendered again")
    if not details:
        details.append("addon settings changed; every release renders the same")
    return Action(
        "addons",
        f"Addons only: the addons play alone, on the first control-plane node ({'; '.join(details)}).",
        details=tuple(details),
        data=data,
    )


def with_restore(plan: Plan, releases: list[str]) -> Plan:
    """A plan with nothing to change, plus the addon releases whose live objects drifted:
    the addons play upgrades each to its own chart and values again."""
    names = ", ".join(releases)
    action = Action(
        "addons",
        f"Addons only: restore the drifted live objects of {names} to what Git renders "
        "(helm upgrade to the same chart and values).",
        details=tuple(f"restore {name}" for name in releases),
        data={"restore": list(releases)},
    )
    return replace(plan, actions=(*plan.actions, action))


# Output


def describe(plan: Plan) -> list[str]:
    """The plan in plain words, one line per action."""
    if plan.blocked:
        return [f"The plan for {plan.cluster} is blocked: fix cluster.yaml first."]
    if not plan.changes:
        return [
            f"No changes: {plan.cluster} matches the last applied state. "
            "Nothing to run, no Ansible run at all."
        ]
    lines = [f"{index}. {action.summary}" for index, action in enumerate(plan.actions, 1)]
    return [*lines, *(f"note: {note}" for note in plan.notes)]


def markdown(plan: Plan) -> str:
    """The plan for a merge request description."""
    lines = [f"### k8s-install plan for `{plan.cluster}`", ""]
    if plan.blocked:
        lines += ["**Blocked**: fix these in cluster.yaml first.", ""]
        lines += [f"- `{p.path}`: {p.message} (fix: {p.fix})" for p in plan.problems]
    elif not plan.changes:
        lines.append("No changes. Nothing will run.")
    else:
        lines += ["| # | action | playbook | limit | what |", "|---|---|---|---|---|"]
        for index, action in enumerate(plan.actions, 1):
            limit = ", ".join(action.limit) or "all nodes"
            lines.append(
                f"| {index} | {action.kind} | `{action.playbook}` | {limit} | {action.summary} |"
            )
        details = [(a.kind, d) for a in plan.actions for d in a.details]
        if details:
            lines += ["", "Details:", ""]
            lines += [f"- {kind}: `{detail}`" for kind, detail in details]
    if plan.notes:
        lines += ["", *[f"> {note}" for note in plan.notes]]
    return "\n".join(lines) + "\n"
