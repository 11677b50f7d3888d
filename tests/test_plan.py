"""Plan logic: the minimal action for each kind of change, exhaustively."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_install.lifecycle import plan
from k8s_install.model.config import with_defaults


def node(name: str, *roles: str, ip: str | None = None, **extra: Any) -> dict[str, Any]:
    index = sum(ord(c) for c in name) % 250 + 1
    return {"name": name, "address": ip or f"192.0.2.{index}", "roles": list(roles), **extra}


def spec(nodes: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "lab",
        "kubernetes": {"version": "1.34.7"},
        "nodes": nodes
        if nodes is not None
        else [
            node("cp1", "control-plane", "etcd"),
            node("cp2", "control-plane", "etcd"),
            node("cp3", "control-plane", "etcd"),
            node("w1", "worker"),
            node("w2", "worker"),
        ],
    }
    data.update(overrides)
    return with_defaults(data)


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(base)
    *parents, last = path.split(".")
    target = result
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    return result


BASE = spec()


def test_first_install_is_one_full_run() -> None:
    result = plan.compare(BASE, None)
    assert result.first_install
    assert result.kinds() == ["install"]
    assert result.actions[0].playbook == "up.yml"
    assert result.actions[0].limit == ()
    assert "First install" in plan.describe(result)[0]


def test_nothing_changed_runs_nothing() -> None:
    result = plan.compare(BASE, copy.deepcopy(BASE))
    assert not result.changes and not result.blocked
    assert result.actions == ()
    assert "Nothing to run" in plan.describe(result)[0]


def test_applied_spec_from_an_older_release_gets_new_defaults() -> None:
    old = copy.deepcopy(BASE)
    del old["security"]
    assert not plan.compare(BASE, old).changes


def test_new_workers_take_the_scale_path_limited_to_them() -> None:
    desired = spec([*BASE["nodes"], node("w3", "worker"), node("w4", "worker")])
    result = plan.compare(desired, BASE)
    assert result.kinds() == ["scale"]
    assert result.actions[0].limit == ("w3", "w4")
    assert result.actions[0].playbook == "scale.yml"
    assert "w3, w4" in result.actions[0].summary


def test_scale_refreshes_only_missing_facts() -> None:
    desired = spec([*BASE["nodes"], node("w3", "worker")])
    result = plan.compare(desired, BASE, cached_facts={"cp1", "cp2", "w1", "w2"})
    assert result.kinds() == ["facts", "scale"]
    assert result.actions[0].limit == ("cp3",)
    full_cache = plan.compare(desired, BASE, cached_facts={"cp1", "cp2", "cp3", "w1", "w2"})
    assert full_cache.kinds() == ["scale"]


def test_new_control_plane_node_needs_a_converge() -> None:
    nodes = [*BASE["nodes"][:3], node("cp4", "control-plane"), *BASE["nodes"][3:]]
    result = plan.compare(spec(nodes), BASE)
    assert result.kinds() == ["converge"]
    assert "cp4" in result.actions[0].summary


def test_removed_node_takes_remove_node() -> None:
    desired = spec(BASE["nodes"][:4])
    result = plan.compare(desired, BASE)
    assert result.kinds() == ["remove_node"]
    action = result.actions[0]
    assert action.nodes == ("w2",)
    assert action.data["node"]["name"] == "w2"
    assert "failed drain" in action.summary


def test_replacing_a_worker_adds_before_it_removes() -> None:
    desired = spec([*BASE["nodes"][:4], node("w9", "worker")])
    assert plan.compare(desired, BASE).kinds() == ["scale", "remove_node"]


def test_removing_an_etcd_member_is_planned_with_the_engines_rerun_after() -> None:
    """Kubespray's docs/operations/nodes.md: remove-node.yml, then cluster.yml on the rest."""
    nodes = [n for n in BASE["nodes"] if n["name"] not in ("cp2", "cp3")]
    result = plan.compare(spec(nodes), BASE)
    assert result.kinds() == ["remove_node", "remove_node", "etcd_leave"]
    assert [a.nodes for a in result.actions[:2]] == [("cp2",), ("cp3",)]
    leave = result.actions[2]
    assert leave.playbook == "etcd_members.yml" and leave.limit == ()
    assert leave.nodes == ("cp1", "w1", "w2") and leave.data == {"members": ["cp1"]}


def test_removing_a_worker_needs_no_etcd_rerun() -> None:
    assert plan.compare(spec(BASE["nodes"][:4]), BASE).kinds() == ["remove_node"]


def test_new_etcd_members_join_limited_to_etcd_and_control_plane() -> None:
    """Kubespray: cluster.yml --limit=etcd,kube_control_plane -e ignore_assert_errors=yes."""
    nodes = [*BASE["nodes"][:3], node("e4", "etcd"), node("e5", "etcd"), *BASE["nodes"][3:]]
    result = plan.compare(spec(nodes), BASE)
    assert result.kinds() == ["etcd_join"]
    join = result.actions[0]
    assert join.playbook == "etcd_members.yml"
    assert join.limit == ("etcd", "kube_control_plane")
    assert join.nodes == ("cp1", "cp2", "cp3", "e4", "e5")
    assert join.data == {"members": ["cp1", "cp2", "cp3", "e4", "e5"], "joining": ["e4", "e5"]}
    assert "Workers are not touched" in join.summary


def test_replacing_an_etcd_member_joins_first_then_removes_then_reruns() -> None:
    """Quorum holds throughout: the new member is in before the old one leaves."""
    nodes = [BASE["nodes"][0], BASE["nodes"][1], node("cp9", "control-plane", "etcd")]
    result = plan.compare(spec([*nodes, *BASE["nodes"][3:]]), BASE)
    assert result.kinds() == ["etcd_join", "remove_node", "etcd_leave"]
    assert result.actions[1].nodes == ("cp3",)


def test_removing_the_first_control_plane_is_refused() -> None:
    desired = spec(BASE["nodes"][1:])
    result = plan.compare(desired, BASE)
    assert result.blocked and not result.actions
    assert any("first control-plane" in p.message for p in result.problems)


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        ("1.34.7", "1.35.4", True),
        ("1.34.1", "1.34.7", True),
        ("1.33.0", "1.35.4", False),
        ("1.35.4", "1.34.7", False),
        ("1.34.7", "1.34.1", False),
    ],
)
def test_version_change_is_an_upgrade_with_skew_checked(old: str, new: str, ok: bool) -> None:
    applied = changed(BASE, "kubernetes.version", old)
    desired = changed(BASE, "kubernetes.version", new)
    result = plan.compare(desired, applied)
    if ok:
        assert result.kinds() == ["upgrade"]
        assert result.actions[0].data == {"from": old, "to": new}
        assert result.actions[0].playbook == "upgrade.yml"
    else:
        assert result.blocked and not result.actions
        assert result.problems[0].path == "kubernetes.version"


def test_skipping_a_minor_names_the_next_step() -> None:
    result = plan.compare(
        changed(BASE, "kubernetes.version", "1.35.4"),
        changed(BASE, "kubernetes.version", "1.33.0"),
    )
    assert "1.34.x" in result.problems[0].fix


def test_version_and_nodes_in_one_step_are_refused() -> None:
    desired = changed(spec([*BASE["nodes"], node("w3", "worker")]), "kubernetes.version", "1.35.4")
    result = plan.compare(desired, BASE)
    assert result.blocked
    assert "separate" in result.problems[0].fix or "first" in result.problems[0].fix


def test_upgrade_carries_other_settings_and_says_so() -> None:
    desired = changed(
        changed(BASE, "kubernetes.version", "1.35.4"), "security.audit_logging", False
    )
    result = plan.compare(desired, BASE)
    assert result.kinds() == ["upgrade"]
    assert any("security.audit_logging" in n for n in result.notes)


def test_only_addons_changed_runs_the_addons_play_alone() -> None:
    desired = changed(BASE, "addons.releases", [{"preset": "metrics-server"}])
    applied = changed(BASE, "addons.releases", [{"preset": "ingress-nginx"}])
    result = plan.compare(desired, applied)
    assert result.kinds() == ["addons"]
    assert result.actions[0].data == {
        "install": ["metrics-server"],
        "update": [],
        "prune": ["ingress-nginx"],
    }
    assert "prune ingress-nginx" in result.actions[0].summary


def test_disabling_an_addon_shows_its_removal_first() -> None:
    releases = [{"preset": "cert-manager"}, {"preset": "metrics-server"}]
    applied = changed(BASE, "addons.releases", releases)
    desired = changed(
        BASE,
        "addons.releases",
        [{"preset": "cert-manager"}, {"preset": "metrics-server", "enabled": False}],
    )
    action = plan.compare(desired, applied).actions[0]
    assert action.kind == "addons"
    assert action.data["prune"] == ["metrics-server"]
    assert action.details[0].startswith("prune ")
    assert "disabled (enabled: false)" in action.details[0]
    assert "metrics-server" in " ".join(plan.describe(plan.compare(desired, applied)))


def test_addons_changed_with_scale_runs_both() -> None:
    desired = changed(
        spec([*BASE["nodes"], node("w3", "worker")]), "addons.globals", {"registry": "r"}
    )
    assert plan.compare(desired, BASE).kinds() == ["scale", "addons"]


@pytest.mark.parametrize(
    "path",
    ["security.audit_logging", "offline.files_port", "kubespray.kube_proxy_mode", "name"],
)
def test_other_settings_converge_naming_the_setting(path: str) -> None:
    desired = changed(BASE, path, "other")
    result = plan.compare(desired, BASE)
    assert result.kinds() == ["converge"]
    assert result.actions[0].details == (path,)
    assert path in result.actions[0].summary
    assert result.actions[0].limit == ()


def test_converge_covers_new_workers_and_addons() -> None:
    desired = changed(spec([*BASE["nodes"], node("w3", "worker")]), "security.audit_logging", False)
    desired = changed(desired, "addons.releases", [{"preset": "metrics-server"}])
    assert plan.compare(desired, BASE).kinds() == ["converge"]


def test_labels_and_taints_converge() -> None:
    nodes = copy.deepcopy(BASE["nodes"])
    nodes[3]["labels"] = {"pool": "a"}
    nodes[4]["taints"] = ["x=y:NoSchedule"]
    result = plan.compare(spec(nodes), BASE)
    assert result.kinds() == ["converge"]
    assert result.actions[0].details == ("nodes[w1].labels", "nodes[w2].taints")


def test_connection_only_changes_need_no_run() -> None:
    desired = changed(BASE, "access.user", "admin")
    desired["nodes"][3]["ssh_port"] = 2222
    result = plan.compare(desired, BASE)
    assert not result.changes
    assert any("access.user" in n for n in result.notes)
    assert any("ssh_port" in n for n in result.notes)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("network.pod_cidr", "10.240.0.0/16"),
        ("network.service_cidr", "10.96.0.0/16"),
        ("network.plugin", "cilium"),
    ],
)
def test_settings_a_cluster_cannot_change_are_refused(path: str, value: str) -> None:
    result = plan.compare(changed(BASE, path, value), BASE)
    assert result.blocked
    assert result.problems[0].path == path


def test_changing_roles_or_address_of_a_joined_node_is_refused() -> None:
    nodes = copy.deepcopy(BASE["nodes"])
    nodes[3]["roles"] = ["worker", "control-plane"]
    nodes[4]["address"] = "198.51.100.9"
    result = plan.compare(spec(nodes), BASE)
    assert {p.path for p in result.problems} == {"nodes[w1].roles", "nodes[w2].address"}


def test_moving_the_first_control_plane_converges() -> None:
    nodes = copy.deepcopy(BASE["nodes"])
    nodes[0], nodes[1] = nodes[1], nodes[0]
    result = plan.compare(spec(nodes), BASE)
    assert result.kinds() == ["converge"]
    assert "first control-plane node is now cp2" in result.actions[0].summary


def test_markdown_and_json_forms() -> None:
    desired = spec([*BASE["nodes"], node("w3", "worker")])
    result = plan.compare(desired, BASE)
    text = plan.markdown(result)
    assert "| 1 | scale | `scale.yml` | w3 |" in text
    data = result.as_dict()
    assert data["changes"] is True
    assert data["actions"][0]["limit"] == ["w3"]
    blocked = plan.markdown(plan.compare(changed(BASE, "network.plugin", "cilium"), BASE))
    assert "**Blocked**" in blocked
    assert "No changes" in plan.markdown(plan.compare(BASE, BASE))


# Properties over generated clusters.

WORKERS = [f"w{i}" for i in range(1, 9)]


@st.composite
def clusters(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    etcd = draw(st.sampled_from([1, 3, 5]))
    control = [node(f"cp{i}", "control-plane", "etcd") for i in range(1, etcd + 1)]
    workers = draw(st.lists(st.sampled_from(WORKERS), unique=True, max_size=6))
    return spec(control + [node(w, "worker") for w in workers]), workers


@settings(max_examples=200, deadline=None)
@given(
    clusters(),
    st.lists(st.sampled_from(WORKERS), unique=True, max_size=4),
    st.booleans(),
    st.booleans(),
)
def test_worker_changes_plan_exactly_scale_and_remove(
    base: tuple[dict[str, Any], list[str]],
    toggled: list[str],
    change_setting: bool,
    change_addons: bool,
) -> None:
    applied, workers = base
    present = set(workers) ^ set(toggled)
    desired = copy.deepcopy(applied)
    desired["nodes"] = [n for n in applied["nodes"] if "worker" not in n["roles"]]
    desired["nodes"] += [node(w, "worker") for w in sorted(present)]
    if change_setting:
        desired["security"]["anonymous_auth"] = True
    if change_addons:
        desired["addons"]["releases"] = [{"preset": "metrics-server"}]
    added = sorted(present - set(workers))
    removed = sorted(set(workers) - present)

    result = plan.compare(desired, applied)

    assert not result.blocked
    kinds = result.kinds()
    assert kinds == sorted(kinds, key=plan.ORDER.index)
    assert [a.nodes for a in result.actions if a.kind == "remove_node"] == [(r,) for r in removed]
    if change_setting:
        assert "converge" in kinds and "scale" not in kinds and "addons" not in kinds
        assert "security.anonymous_auth" in result.actions[0].details
    else:
        scale = [a for a in result.actions if a.kind == "scale"]
        assert [a.limit for a in scale] == ([tuple(added)] if added else [])
        assert ("addons" in kinds) == change_addons
    assert result.changes == bool(toggled or change_setting or change_addons)
    assert plan.compare(desired, desired).actions == ()


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.integers(1, 1), st.integers(28, 36), st.integers(0, 12)),
    st.tuples(st.integers(1, 1), st.integers(28, 36), st.integers(0, 12)),
)
def test_upgrade_only_one_minor_forward(
    old: tuple[int, int, int], new: tuple[int, int, int]
) -> None:
    old_text, new_text = ".".join(map(str, old)), ".".join(map(str, new))
    result = plan.compare(
        changed(BASE, "kubernetes.version", new_text), changed(BASE, "kubernetes.version", old_text)
    )
    if new == old:
        assert not result.changes and not result.blocked
    elif new > old and new[1] - old[1] <= 1:
        assert result.kinds() == ["upgrade"]
    else:
        assert result.blocked and result.kinds() == []


def test_requested_converge_runs_when_nothing_changed() -> None:
    current = spec()
    forced = plan.with_converge(plan.compare(current, copy.deepcopy(current)), current)
    assert forced.kinds() == ["converge"]
    assert forced.actions[0].details == ("requested with --converge",)


def test_requested_converge_keeps_other_actions_and_never_doubles() -> None:
    first = plan.compare(spec(), None)
    assert plan.with_converge(first, spec()) == first  # a first install is already full
    upgraded = spec(kubernetes={"version": "1.35.4"})
    upgrade = plan.compare(upgraded, spec(kubernetes={"version": "1.34.4"}))
    assert "upgrade" in upgrade.kinds()
    assert plan.with_converge(upgrade, upgraded).kinds() == upgrade.kinds()


@pytest.mark.parametrize("role", ["control-plane", "etcd"])
def test_a_new_node_listed_first_for_its_role_is_refused(role: str) -> None:
    roles = ("control-plane", "etcd") if role == "etcd" else ("control-plane",)
    nodes = [node("cp0", *roles), *BASE["nodes"]]
    result = plan.compare(spec(nodes), BASE)
    assert result.blocked and result.actions == ()
    problem = next(p for p in result.problems if f"first {role} node" in p.message)
    assert problem.path == "nodes"
    assert "cp0" in problem.message
    assert "after the existing" in problem.fix
