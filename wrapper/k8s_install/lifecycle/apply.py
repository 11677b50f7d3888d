"""Plan, then apply: each planned action becomes one Ansible run, recorded in the cluster repo.

A plan without actions runs nothing at all. Runs stop at the first failure; every action that
succeeds advances the applied state by what it did (lifecycle/advance.py), so the next `up`
resumes at the action that failed. With an offline bundle, `verify_bundle` checks it
(signature and every file) before anything runs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from k8s_install.ansible import actions, inventory, progress
from k8s_install.ansible.runner import RunRequest, RunResult
from k8s_install.base.errors import ExitCode, InvalidInput
from k8s_install.base.output import Output
from k8s_install.bundle import engine_source, tls
from k8s_install.bundle import verify as verifier
from k8s_install.engine import kubespray
from k8s_install.lifecycle import advance
from k8s_install.lifecycle import plan as planning
from k8s_install.model import config
from k8s_install.model.config import Cluster
from k8s_install.records import applied_file, runs

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
    engine: kubespray.Engine | None = None

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
        cluster.spec, applied_file.applied_spec(cluster.root), cached_facts=cached_facts(cluster)
    )


# Actions that install nothing from the bundle: a reset must still work with a broken one.
NO_BUNDLE_ACTIONS = frozenset({"reset"})


def verify_bundle(
    cluster: Cluster, chosen: tuple[planning.Action, ...] | list[planning.Action]
) -> verifier.Report | None:
    """Check offline.bundle before any host changes: its signature with offline.public_key,
    then every file against the manifest. Raises (exit 2) naming each bad file; None when the
    cluster has no offline bundle or the actions take nothing from it."""
    bundle = engine_source.bundle_path(cluster)
    if bundle is None or all(a.kind in NO_BUNDLE_ACTIONS for a in chosen):
        return None
    key = engine_source.public_key(cluster)
    if key is None:
        raise InvalidInput(
            f"offline.public_key is not set, so the bundle {bundle} cannot be verified; "
            "nothing was run",
            fix="set offline.public_key to the .pub of the key the bundle was signed with",
        )
    report = verifier.verify(bundle, key)
    if report.ok:
        _check_bundle_version(cluster, bundle, report)
        return report
    if report.links:  # refused before the signature is read: nothing is read through a link
        problem = f"links or special files, refused: {', '.join(report.links)}"
    elif report.signature != "ok":
        problem = f"its manifest signature does not verify with {key}"
    else:
        problem = "; ".join(
            f"{label}: {', '.join(paths)}"
            for label, paths in (
                ("changed", report.flipped),
                ("missing", report.missing),
                ("not in the manifest", report.extra),
            )
            if paths
        )
    raise InvalidInput(
        f"the offline bundle {bundle} does not match its manifest ({problem}); nothing was run",
        fix="copy the bundle again (or rebuild it with `k8s-install bundle build`), then check "
        f"it with `k8s-install bundle verify {bundle} --key {key}`",
    )


def _check_bundle_version(cluster: Cluster, bundle: Path, report: verifier.Report) -> None:
    """A bundle carries the files of one Kubernetes version: it must be cluster.yaml's (an
    upgrade takes the new version's files from it)."""
    carried = report.kubernetes_version
    if carried and carried != cluster.kubernetes_version:
        raise InvalidInput(
            f"the offline bundle {bundle} carries Kubernetes {carried}, but kubernetes.version "
            f"is {cluster.kubernetes_version}; nothing was run",
            fix=f"build a bundle for {cluster.kubernetes_version} (`k8s-install bundle plan`, "
            "then `k8s-install bundle build`) and point offline.bundle at it",
        )


def removal_cluster(cluster: Cluster, node: dict[str, Any]) -> Cluster:
    """The desired cluster plus the node being removed: the engine needs it in the inventory.

    Nodes keep the order of the last applied spec, so the inventory reads as it did when applied.
    """
    applied = applied_file.applied_spec(cluster.root) or {}
    desired = {str(n["name"]): n for n in cluster.spec["nodes"]}
    order = [str(n["name"]) for n in applied.get("nodes") or []]
    nodes = [desired.get(name, node if name == node["name"] else None) for name in order]
    nodes += [n for name, n in desired.items() if name not in order]
    spec = copy.deepcopy(cluster.spec)
    spec["nodes"] = [n for n in nodes if n is not None]
    return replace(cluster, spec=spec, nodes=config._nodes(spec))  # keeps offline_checksums


def removal_extravars(with_node: Cluster) -> dict[str, Any]:
    """What the engine's node removal needs besides `node` for this removal inventory.

    The inventory still holds the member being removed, so removing one of an odd etcd set
    (or replacing one in a single edit) shows the engine an even count, which its
    validate_inventory refuses unless asserts are off. Our own removal checks (the
    quorum without the member, the first and last members) run before the engine's.
    """
    etcd = [n for n in with_node.nodes if "etcd" in n.roles]
    return {"ignore_assert_errors": True} if etcd and len(etcd) % 2 == 0 else {}


# What the engine's etcd_join and etcd_leave runs need (ansible/actions.ETCD_MEMBERS_VARS).
ETCD_MEMBERS_EXTRAVARS = {"ignore_assert_errors": True, "upgrade_cluster_setup": True}


def offline_ca(cluster: Cluster) -> Path | None:
    """The CA `bundle serve` made for the offline registry, which new nodes must trust too."""
    path = cluster.root / tls.DIR / "ca.crt"
    return path.resolve() if cluster.section("offline").get("enabled") and path.is_file() else None


def request_for(
    cluster: Cluster,
    action: planning.Action,
    found: kubespray.Engine,
    *,
    command: str,
    extravars: dict[str, Any] | None = None,
) -> RunRequest:
    """The Ansible run of one action: its playbook and limit, the engine paths, and those of the
    plan-wide extra-vars its row in ansible/actions.py lists."""
    variables: dict[str, Any] = {
        actions.ENGINE_VAR: str(found.path),
        **actions.allowed(action.kind, extravars or {}),
    }
    if action.kind in ("etcd_join", "etcd_leave"):
        variables.update(ETCD_MEMBERS_EXTRAVARS)
    ca_file = offline_ca(cluster)
    if ca_file:
        # Only the rows that list it (the runs that may meet new nodes) take it.
        variables.update(actions.allowed(action.kind, {actions.TRUST_VAR: str(ca_file)}))
    if action.kind == "remove_node":
        variables["node"] = action.nodes[0]
        variables.update(removal_extravars(removal_cluster(cluster, action.data["node"])))
    options: dict[str, Any] = {"roles_path": [found.roles]}
    if action.limit:
        options["limit"] = ",".join(action.limit)
    request = actions.request(cluster, action.kind, command, extravars=variables, **options)
    request.settings = replace(
        request.settings, extra={**request.settings.extra, **kubespray.ansible_settings(found)}
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
    return request


def _record(
    cluster: Cluster, result: RunResult, *, command: str, action: planning.Action
) -> str | None:
    """The one place runs are recorded: runs/<id>.yaml and a commit. A successful action
    advances state/applied.yaml by what it did; a reset removes it."""
    extra = {"action": action.kind, "summary": action.summary, "limit": list(action.limit)}
    ok = result.exit_code == ExitCode.OK
    before = applied_file.applied_spec(cluster.root)
    state = advance.after(before, cluster.spec, action)
    if ok and action.kind == "reset":
        # Nothing is installed any more: the next plan is a first install. The record's
        # commit carries the deletion.
        applied_file.applied_path(cluster.root).unlink(missing_ok=True)
    applied = ok and state is not None and state != before
    view = replace(cluster, spec=state) if applied and state is not None else cluster
    return runs.commit_run(view, result, command=command, applied=applied, extra=extra)


def apply(
    cluster: Cluster,
    the_plan: planning.Plan,
    found: kubespray.Engine,
    out: Output,
    *,
    command: str,
    actions: list[planning.Action] | None = None,
    extravars: dict[str, Any] | None = None,
    execute: Execute | None = None,
    record_runs: bool = True,
) -> Applied:
    """Run the plan's actions (or the given subset) in order; stop at the first failure."""
    run = execute or progress.execute
    chosen = the_plan.actions if actions is None else tuple(actions)
    done = Applied(the_plan, engine=found)
    for action in chosen:
        out.info(f"[bold]{action.kind}[/bold]: {action.summary}")
        request = request_for(cluster, action, found, command=command, extravars=extravars)
        result = run(request, out)
        done.results.append((action, result))
        if record_runs:
            run_id = _record(cluster, result, command=command, action=action)
            if run_id:
                done.records.append(run_id)
        if result.exit_code != ExitCode.OK:
            break
    return done
