"""Plan, then apply: each planned action becomes one Ansible run, recorded in the cluster repo.

A plan without actions runs nothing at all. Runs stop at the first failure; the applied state
moves only when every action of the plan succeeded.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from k8s_install import config, engine, inventory, record, runner, security, state
from k8s_install import plan as planning
from k8s_install.config import Cluster
from k8s_install.errors import ExitCode
from k8s_install.output import Output
from k8s_install.runner import RunRequest, RunResult

# Matches fact_caching_timeout in the generated ansible.cfg: older entries are stale.
FACT_TTL = 86400
FACTS_DIR = "facts"
Execute = Callable[[RunRequest, Output], RunResult]


@dataclass
class Applied:
    """What `apply` did: one result per action run, in order, and the record ids."""

    plan: planning.Plan
    results: list[tuple[planning.Action, RunResult]] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    engine: engine.Engine | None = None

    @property
    def exit_code(self) -> ExitCode:
        for _action, result in self.results:
            if result.exit_code != ExitCode.OK:
                return result.exit_code
        return ExitCode.OK

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.plan.actions) and self.exit_code == ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.as_dict(),
            "engine": self.engine.as_dict() if self.engine else None,
            "runs": [
                {"action": action.kind, **result.as_dict()} for action, result in self.results
            ],
            "records": self.records,
            "complete": self.complete,
            "exit_code": int(self.exit_code),
        }


def fact_dir(cluster: Cluster) -> Path:
    return cluster.root / ".k8s-install" / FACTS_DIR


def cached_facts(cluster: Cluster, now: float | None = None) -> set[str]:
    """Nodes whose facts are in the jsonfile fact cache and younger than FACT_TTL."""
    now = time.time() if now is None else now
    directory = fact_dir(cluster)
    fresh = set()
    for node in cluster.nodes:
        path = directory / node.name
        if path.is_file() and now - path.stat().st_mtime < FACT_TTL:
            fresh.add(node.name)
    return fresh


def make_plan(cluster: Cluster) -> planning.Plan:
    """Compare cluster.yaml with state/applied.yaml. Never contacts a host."""
    return planning.compare(
        cluster.spec, state.applied_spec(cluster.root), cached_facts=cached_facts(cluster)
    )


def removal_cluster(cluster: Cluster, node: dict[str, Any]) -> Cluster:
    """The desired cluster plus the node being removed: the engine needs it in the inventory.

    Nodes keep the order of the last applied spec, so the inventory reads as it did when applied.
    """
    applied = state.applied_spec(cluster.root) or {}
    desired = {str(n["name"]): n for n in cluster.spec["nodes"]}
    order = [str(n["name"]) for n in applied.get("nodes") or []]
    nodes = [desired.get(name, node if name == node["name"] else None) for name in order]
    nodes += [n for name, n in desired.items() if name not in order]
    spec = copy.deepcopy(cluster.spec)
    spec["nodes"] = [n for n in nodes if n is not None]
    return Cluster(spec=spec, path=cluster.path, nodes=config._nodes(spec))


def request_for(
    cluster: Cluster,
    action: planning.Action,
    found: engine.Engine,
    *,
    command: str,
    extravars: dict[str, Any] | None = None,
) -> RunRequest:
    """The Ansible run of one action: playbook, limit, extra-vars the CLI decides, engine paths."""
    variables: dict[str, Any] = {
        "k8s_install_command": command,
        "k8s_install_action": action.kind,
        "k8s_install_engine_dir": str(found.path),
        **(extravars or {}),
    }
    options: dict[str, Any] = {
        "extravars": variables,
        "roles_path": [found.roles],
        "vault_password_file": security.vault_password_file(cluster),
    }
    if action.limit:
        options["limit"] = ",".join(action.limit)
    request = runner.for_cluster(cluster, action.playbook, command, **options)
    request.settings = replace(
        request.settings, extra={**request.settings.extra, **engine.ansible_settings(found)}
    )
    if action.kind == "facts":
        # The nodes were bootstrapped when they joined; only their facts are wanted.
        request.skip_tags = [*request.skip_tags, "bootstrap_os"]
    if action.kind == "remove_node":
        with_node = removal_cluster(cluster, action.data["node"])
        directory = cluster.root / ".k8s-install" / "inventory-remove"
        inventory.write(with_node, directory)
        request.inventory = directory
        request.node_count = len(with_node.nodes)
        variables["node"] = action.nodes[0]
    return request


def _record(
    cluster: Cluster, result: RunResult, *, command: str, applied: bool, action: planning.Action
) -> str | None:
    """The one place runs are recorded (issue 7's record module): runs/<id>.yaml and a commit."""
    extra = {"action": action.kind, "summary": action.summary, "limit": list(action.limit)}
    return record.commit_run(cluster, result, command=command, applied=applied, extra=extra)


def apply(
    cluster: Cluster,
    the_plan: planning.Plan,
    found: engine.Engine,
    out: Output,
    *,
    command: str,
    actions: list[planning.Action] | None = None,
    extravars: dict[str, Any] | None = None,
    execute: Execute | None = None,
    record_runs: bool = True,
) -> Applied:
    """Run the plan's actions (or the given subset) in order; stop at the first failure."""
    from k8s_install import progress

    run = execute or progress.execute
    chosen = the_plan.actions if actions is None else tuple(actions)
    done = Applied(the_plan, engine=found)
    for index, action in enumerate(chosen):
        out.info(f"[bold]{action.kind}[/bold]: {action.summary}")
        request = request_for(cluster, action, found, command=command, extravars=extravars)
        result = run(request, out)
        done.results.append((action, result))
        last = index == len(chosen) - 1
        whole_plan = len(chosen) == len(the_plan.actions)
        applied = result.exit_code == ExitCode.OK and last and whole_plan
        applied = applied and action.kind != "reset"  # a reset applies nothing
        if action.kind == "reset" and result.exit_code == ExitCode.OK:
            # Nothing is installed any more: the next plan is a first install. The record's
            # commit carries the deletion.
            state.applied_path(cluster.root).unlink(missing_ok=True)
        if record_runs:
            run_id = _record(cluster, result, command=command, applied=applied, action=action)
            if run_id:
                done.records.append(run_id)
        if result.exit_code != ExitCode.OK:
            break
    return done
