"""The dependency graph: install waves, cycles, removal order, and pruning in the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k8s_install.addons import order as graph
from k8s_install.model.addon_releases import expand


def release(name: str, *deps: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "chart": f"./charts/{name}", "depends_on": list(deps), **extra}


def addons(*releases: dict[str, Any], **globals_: Any) -> dict[str, Any]:
    return {"globals": globals_, "releases": list(releases)}


def names(waves: list[list[Any]]) -> list[list[str]]:
    return [[r.name for r in wave] for wave in waves]


def test_independent_releases_share_a_wave_and_dependents_come_later() -> None:
    releases, _ = expand(
        addons(
            release("app", "db", "cache"), release("db"), release("cache"), release("web", "app")
        )
    )
    assert names(graph.waves(releases)) == [["cache", "db"], ["app"], ["web"]]
    assert [r.name for r in graph.removal_order(releases)] == ["web", "app", "db", "cache"]


def test_a_cycle_is_named_in_order() -> None:
    releases, _ = expand(addons(release("a", "b"), release("b", "c"), release("c", "a")))
    with pytest.raises(graph.CycleError) as caught:
        graph.waves(releases)
    assert str(caught.value) == "a -> b -> c -> a"


def test_preset_orderings_apply_only_to_releases_present() -> None:
    releases, _ = expand(addons({"preset": "ingress-nginx"}, {"preset": "cert-manager"}))
    assert names(graph.waves(releases)) == [["cert-manager"], ["ingress-nginx"]]
    alone, _ = expand(addons({"preset": "ingress-nginx"}))
    assert names(graph.waves(alone)) == [["ingress-nginx"]]


def test_preset_orderings_follow_a_renamed_release() -> None:
    releases, _ = expand(
        addons({"preset": "ingress-nginx"}, {"preset": "cert-manager", "name": "certs"})
    )
    assert names(graph.waves(releases)) == [["certs"], ["ingress-nginx"]]


@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=12))
    result = []
    for index in range(count):
        deps = (
            draw(st.sets(st.integers(min_value=0, max_value=index - 1), max_size=3))
            if index
            else set()
        )
        result.append(release(f"r{index}", *(f"r{d}" for d in sorted(deps))))
    order = draw(st.permutations(result))
    return list(order)


@given(dags())
def test_every_release_comes_after_its_dependencies_in_waves(entries: list[dict[str, Any]]) -> None:
    releases, _ = expand(addons(*entries))
    wave_of = {r.name: i for i, wave in enumerate(graph.waves(releases)) for r in wave}
    assert set(wave_of) == {r.name for r in releases}
    for r in releases:
        for dep in r.depends_on:
            assert wave_of[dep] < wave_of[r.name]
        # A release sits in the earliest wave it can: right after its latest dependency.
        assert wave_of[r.name] == max((wave_of[d] + 1 for d in r.depends_on), default=0)


def test_first_apply_installs_everything_in_waves() -> None:
    desired = addons(release("a"), release("b", "a"))
    changes = graph.changes(desired, None)
    assert [(c.action, c.name, c.wave) for c in changes] == [
        ("install", "a", 1),
        ("install", "b", 2),
    ]


def test_disabling_a_release_removes_it_first_and_says_why() -> None:
    applied = addons(release("a"), release("b", "a"), release("c"))
    desired = addons(release("a"), release("b", "a"), release("c", enabled=False))
    changes = graph.changes(desired, applied)
    assert changes[0].as_dict() == {
        "action": "remove",
        "name": "c",
        "namespace": "c",
        "reason": "disabled (enabled: false)",
        "wave": None,
    }
    assert [(c.action, c.name) for c in changes[1:]] == [("unchanged", "a"), ("unchanged", "b")]


def test_deleted_releases_are_removed_dependents_first() -> None:
    applied = addons(release("db"), release("app", "db"), release("web", "app"), release("keep"))
    desired = addons(release("keep"))
    changes = graph.changes(desired, applied)
    assert [(c.action, c.name) for c in changes] == [
        ("remove", "web"),
        ("remove", "app"),
        ("remove", "db"),
        ("unchanged", "keep"),
    ]
    assert changes[0].reason == "deleted from cluster.yaml"


def test_upgrades_name_what_changed() -> None:
    base = release("x", repo="https://charts.example", chart="x", version="1.0.0")
    applied = addons(base, release("y", values={"a": "${globals.reg}"}), reg="old.example")
    desired = addons(
        {**base, "version": "1.1.0"},
        release("y", values={"a": "${globals.reg}"}),
        reg="new.example",
    )
    reasons = {c.name: (c.action, c.reason) for c in graph.changes(desired, applied)}
    assert reasons == {
        "x": ("upgrade", "chart version 1.0.0 -> 1.1.0"),
        "y": ("upgrade", "values changed"),  # through the global, not the release entry
    }


def test_a_namespace_move_is_a_removal_then_an_install() -> None:
    applied = addons(release("a", namespace="one"))
    desired = addons(release("a", namespace="two"))
    assert [(c.action, c.namespace) for c in graph.changes(desired, applied)] == [
        ("remove", "one"),
        ("install", "two"),
    ]


def test_plan_reads_the_applied_state_from_the_cluster_repo(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "applied.yaml").write_text(
        "name: x\naddons:\n  globals: {}\n  releases:\n    - {name: old, chart: ./old}\n"
    )
    changes = graph.plan(tmp_path, addons(release("new")))
    assert [(c.action, c.name) for c in changes] == [("remove", "old"), ("install", "new")]
    assert graph.applied_addons(tmp_path / "nothing-applied") is None


def test_summary_for_the_plan_lists_pruning_first() -> None:
    applied = addons(release("a"), release("b"), release("c"))
    desired = addons(release("a", values={"x": 1}), release("b", enabled=False), release("d"))
    assert graph.summary(graph.changes(desired, applied)) == {
        "install": ["d"],
        "update": ["a"],
        "prune": ["c", "b"],
        "details": [
            "prune c/c (deleted from cluster.yaml)",
            "prune b/b (disabled (enabled: false))",
            "upgrade a/a (values changed)",
            "install d/d (new release)",
        ],
    }
