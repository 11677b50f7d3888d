"""Resumable plans: every action that succeeds advances state/applied.yaml by what it did, so
the next plan holds only what did not finish.

Orchestration only: the Ansible runs are replaced by canned results (the runs themselves are
tested elsewhere, and live in tests/cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_install.ansible import runner
from k8s_install.base.output import Output
from k8s_install.base.resources import sample_cluster
from k8s_install.engine import kubespray as engine
from k8s_install.lifecycle import advance, apply, plan
from k8s_install.model import config
from k8s_install.records import applied_file as state
from test_plan_cli import _result as result


def repo(tmp_path: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """A sample cluster whose cluster.yaml was applied, then changed by `change`."""
    path = tmp_path / "cluster.yaml"
    path.write_text(sample_cluster().read_text())
    state.write_applied(config.load(path))
    if change is not None:
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def make_plan(path: Path) -> plan.Plan:
    """The plan `up` makes, with the nodes' facts cached (no facts refresh)."""
    cluster = config.load(path)
    return plan.compare(cluster.spec, state.applied_spec(cluster.root), cached_facts=None)


def run(path: Path, statuses: list[str]) -> tuple[list[str], plan.Plan]:
    """`up` with the given result per run (successful after the list ends); returns the kinds
    of action that ran and the plan made afterwards."""
    cluster = config.load(path)
    the_plan = make_plan(path)
    ran: list[str] = []
    found = engine.Engine("v2.31.0", path.parent, "dev", verified=False)

    def execute(request: runner.RunRequest, _out: Output) -> runner.RunResult:
        ran.append(str(request.extravars["k8s_install_action"]))
        return result(statuses[len(ran) - 1] if len(ran) <= len(statuses) else "successful")

    apply.apply(cluster, the_plan, found, Output(), command="up", execute=execute)
    return ran, make_plan(path)


def drop(*names: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["nodes"] = [n for n in data["nodes"] if n["name"] not in names]

    return change


def test_two_removals_whose_second_fails_resume_with_the_second_only(tmp_path: Path) -> None:
    path = repo(tmp_path, drop("worker1", "worker2"))
    ran, after = run(path, ["successful", "failed"])
    assert ran == ["remove_node", "remove_node"]
    assert [a.nodes for a in after.actions] == [("worker2",)]
    ran, after = run(path, [])
    assert ran == ["remove_node"]
    assert not after.changes


def test_workers_added_before_a_failed_addons_run_are_not_added_again(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["nodes"].append({"name": "worker9", "address": "192.0.2.29", "roles": ["worker"]})
        data["addons"] = {"releases": [{"name": "web", "chart": "./charts/web"}]}

    path = repo(tmp_path, change)
    ran, after = run(path, ["successful", "failed"])
    assert ran == ["scale", "addons"]
    assert after.kinds() == ["addons"]
    applied = state.applied_spec(path.parent) or {}
    assert [n["name"] for n in applied["nodes"]][-1] == "worker9"
    assert not applied.get("addons", {}).get("releases")


def test_etcd_members_removed_before_a_failed_reconfiguration_resume_with_it(
    tmp_path: Path,
) -> None:
    path = repo(tmp_path, drop("cp2", "cp3"))  # three members to one: an odd count each time
    ran, after = run(path, ["successful", "successful", "failed"])
    assert ran == ["remove_node", "remove_node", "etcd_leave"]
    assert after.kinds() == ["etcd_leave"]
    applied = state.applied_spec(path.parent) or {}
    assert [n["name"] for n in applied["nodes"] if "etcd" in n["roles"]] == ["cp1"]
    assert advance.pending_etcd_leave(applied) == ["cp2", "cp3"]
    ran, after = run(path, [])
    assert ran == ["etcd_leave"]
    assert not after.changes
    assert advance.pending_etcd_leave(state.applied_spec(path.parent)) == []


def test_a_facts_refresh_alone_does_not_count_as_applied(tmp_path: Path) -> None:
    cluster = config.load(repo(tmp_path))
    before = state.applied_spec(cluster.root)
    action = plan.Action("facts", "refresh", nodes=("cp1",), limit=("cp1",))
    assert advance.after(before, cluster.spec, action) == before


WORKERS = ["worker1", "worker2", "w3", "w4", "w5"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    removed=st.sets(st.sampled_from(["worker1", "worker2"])),
    added=st.sets(st.sampled_from(["w3", "w4", "w5"])),
    failing=st.integers(min_value=0, max_value=4),
)
def test_after_any_failure_the_next_plan_is_what_did_not_finish(
    tmp_path_factory: Any, removed: set[str], added: set[str], failing: int
) -> None:
    tmp_path = tmp_path_factory.mktemp("resume")

    def change(data: dict[str, Any]) -> None:
        drop(*removed)(data)
        for name in sorted(added):
            data["nodes"].append(
                {
                    "name": name,
                    "address": f"192.0.2.{40 + WORKERS.index(name)}",
                    "roles": ["worker"],
                }
            )

    path = repo(tmp_path, change)
    whole = [(a.kind, a.nodes) for a in make_plan(path).actions]
    statuses = ["successful"] * failing + ["failed"]
    _ran, after = run(path, statuses)
    done = min(failing, len(whole))
    rest = [(a.kind, a.nodes) for a in after.actions]
    assert rest == whole[done:]
    _ran, after = run(path, [])
    assert not after.changes
