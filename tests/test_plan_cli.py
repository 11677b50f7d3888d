"""plan, up, scale, remove-node, upgrade, reset on the command line, up to the first Ansible run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible import runner
from k8s_install.base.output import Output
from k8s_install.cli import cli
from k8s_install.engine import kubespray as engine
from k8s_install.lifecycle import apply, plan
from k8s_install.model import config
from k8s_install.records import applied_file as state


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def applied(sample_copy: Path) -> Path:
    """A cluster whose cluster.yaml is exactly what was applied last."""
    state.write_applied(config.load(sample_copy))
    return sample_copy


def edit(path: Path, change: dict[str, object]) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data))


def test_plan_first_install_and_detailed_exitcode(sample_copy: Path) -> None:
    code, out, _ = invoke("plan", "-c", str(sample_copy))
    assert code == 0 and "First install" in out
    code, _, _ = invoke("plan", "-c", str(sample_copy), "--detailed-exitcode")
    assert code == 2
    code, out, _ = invoke("plan", "-c", str(sample_copy), "--json")
    assert json.loads(out)["actions"][0]["kind"] == "install"


def test_no_change_plan_exits_0_and_noop_up_runs_no_ansible(applied: Path) -> None:
    code, out, _ = invoke("plan", "-c", str(applied), "--detailed-exitcode")
    assert code == 0 and "No changes" in out
    code, out, _ = invoke("up", "-c", str(applied))
    assert code == 0, out
    assert "No changes" in out
    assert not (applied.parent / ".k8s-install" / "runs").exists()
    assert not (applied.parent / "runs").exists()


def test_plan_markdown_names_the_new_nodes(applied: Path) -> None:
    data = yaml.safe_load(applied.read_text())
    data["nodes"].append({"name": "worker3", "address": "192.0.2.23", "roles": ["worker"]})
    applied.write_text(yaml.safe_dump(data))
    code, out, _ = invoke("plan", "-c", str(applied), "--format", "markdown")
    assert code == 0
    assert "| scale | `scale.yml` | worker3 |" in out


def test_blocked_plan_exits_2_or_1_with_detailed_exitcode(applied: Path) -> None:
    edit(applied, {"network": {"plugin": "cilium"}})
    code, _, err = invoke("plan", "-c", str(applied))
    assert code == 2 and "network.plugin" in err
    code, _, _ = invoke("plan", "-c", str(applied), "--detailed-exitcode")
    assert code == 1
    code, _, err = invoke("up", "-c", str(applied), "--yes")
    assert code == 2 and "blocked" in err
    assert not (applied.parent / ".k8s-install").exists()


def test_up_without_a_terminal_or_yes_refuses(sample_copy: Path) -> None:
    code, _, err = invoke("up", "-c", str(sample_copy))
    assert code == 2
    assert "--yes" in err
    assert not (sample_copy.parent / ".k8s-install").exists()


def test_reset_needs_yes(sample_copy: Path) -> None:
    code, _, err = invoke("reset", "-c", str(sample_copy))
    assert code == 2 and "reset --yes" in err


def test_remove_node_must_leave_cluster_yaml_first(applied: Path) -> None:
    code, _, err = invoke("remove-node", "worker2", "-c", str(applied), "--yes")
    assert code == 2 and "still in cluster.yaml" in err
    code, _, err = invoke("remove-node", "nosuch", "-c", str(applied), "--yes")
    assert code == 2 and "not a node of the last applied cluster" in err


def test_scale_and_upgrade_with_nothing_to_do(applied: Path) -> None:
    for command in ("scale", "upgrade"):
        code, _, err = invoke(command, "-c", str(applied), "--yes")
        assert code == 2 and "nothing to" in err


def test_removal_inventory_keeps_the_node_and_the_applied_order(applied: Path) -> None:
    data = yaml.safe_load(applied.read_text())
    data["nodes"] = [n for n in data["nodes"] if n["name"] != "worker1"]
    data["nodes"].insert(0, data["nodes"].pop())  # order changes in cluster.yaml too
    applied.write_text(yaml.safe_dump(data))
    cluster = config.load(applied)
    removed = next(
        n for n in (state.applied_spec(cluster.root) or {})["nodes"] if n["name"] == "worker1"
    )
    with_node = apply.removal_cluster(cluster, removed)
    assert [n.name for n in with_node.nodes] == ["cp1", "cp2", "cp3", "worker1", "worker2"]


def test_cached_facts_are_fresh_only_within_a_day(sample_copy: Path) -> None:
    cluster = config.load(sample_copy)
    facts = apply.fact_dir(cluster)
    facts.mkdir(parents=True)
    (facts / "cp1").write_text("{}")
    (facts / "cp2").write_text("{}")
    now = (facts / "cp1").stat().st_mtime
    assert apply.cached_facts(cluster, now=now) == {"cp1", "cp2"}
    assert apply.cached_facts(cluster, now=now + apply.FACT_TTL + 1) == set()


def _result(status: str) -> runner.RunResult:
    return runner.RunResult(
        run_id=runner.new_run_id(),
        command="test",
        playbook="x.yml",
        status=status,
        rc=0 if status == "successful" else 2,
        started="",
        ended="",
        artifacts=Path("/nonexistent"),
        hosts={},
        slowest=[],
        failures=[],
    )


def test_apply_stops_at_the_first_failure_and_moves_state_only_when_complete(
    applied: Path,
) -> None:
    """Orchestration only: the runs are replaced by canned results (Ansible is tested elsewhere)."""
    data = yaml.safe_load(applied.read_text())
    data["nodes"] = [n for n in data["nodes"] if n["name"] != "worker2"]
    data["nodes"].append({"name": "worker9", "address": "192.0.2.29", "roles": ["worker"]})
    applied.write_text(yaml.safe_dump(data))
    cluster = config.load(applied)
    the_plan = plan.compare(cluster.spec, state.applied_spec(cluster.root), cached_facts=None)
    assert the_plan.kinds() == ["scale", "remove_node"]
    found = engine.Engine("v2.31.0", applied.parent, "dev", verified=False)
    seen: list[runner.RunRequest] = []

    def failing(request: runner.RunRequest, out: Output) -> runner.RunResult:
        seen.append(request)
        return _result("failed")

    done = apply.apply(cluster, the_plan, found, Output(), command="up", execute=failing)
    assert len(seen) == 1 and seen[0].limit == "worker9"
    assert seen[0].extravars["k8s_install_engine_dir"] == str(applied.parent)
    assert int(done.exit_code) == 1 and not done.complete
    assert [n["name"] for n in state.applied_spec(cluster.root)["nodes"]][-1] == "worker2"

    seen.clear()
    done = apply.apply(
        cluster,
        the_plan,
        found,
        Output(),
        command="up",
        execute=lambda r, o: (seen.append(r), _result("successful"))[1],
    )
    assert done.complete and len(seen) == 2
    removal = seen[1]
    assert removal.extravars["node"] == "worker2"
    assert "worker2" in (removal.inventory / "hosts.yaml").read_text()
    assert "worker2" not in (applied.parent / "inventory" / "hosts.yaml").read_text()
    assert state.applied_spec(cluster.root) == cluster.spec


def test_a_successful_reset_forgets_the_applied_state(applied: Path) -> None:
    cluster = config.load(applied)
    action = plan.Action("reset", "reset")
    found = engine.Engine("v2.31.0", applied.parent, "dev", verified=False)
    apply.apply(
        cluster,
        plan.Plan(cluster.name, False, (action,)),
        found,
        Output(),
        command="reset",
        execute=lambda r, o: _result("successful"),
    )
    assert state.applied_spec(cluster.root) is None
    assert apply.make_plan(cluster).kinds() == ["install"]


def test_runs_that_may_meet_new_nodes_pass_the_offline_ca(applied: Path) -> None:
    """A node that joins after `bundle serve` must trust the offline repo's CA too: scale,
    install, converge and the etcd member runs pass it; other runs do not."""
    data = yaml.safe_load(applied.read_text())
    data["offline"] = {"enabled": True, "bundle": "bundle", "repo_host": "cp1"}
    applied.write_text(yaml.safe_dump(data))
    cluster = config.load(applied)
    found = engine.Engine("v2.31.0", applied.parent, "dev", verified=False)
    scale = plan.Action("scale", "add worker9", nodes=("worker9",), limit=("worker9",))
    assert (
        "registry_trust_ca_file"
        not in apply.request_for(cluster, scale, found, command="up").extravars
    )
    ca = applied.parent / ".k8s-install" / "offline" / "tls" / "ca.crt"
    ca.parent.mkdir(parents=True)
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    for kind in ("scale", "install", "converge", "etcd_join"):
        action = plan.Action(kind, kind, nodes=("worker9",), limit=("worker9",))
        request = apply.request_for(cluster, action, found, command="up")
        assert request.extravars["registry_trust_ca_file"] == str(ca.resolve()), kind
    upgrade = apply.request_for(cluster, plan.Action("upgrade", "upgrade"), found, command="up")
    assert "registry_trust_ca_file" not in upgrade.extravars
