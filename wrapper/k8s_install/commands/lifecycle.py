"""plan, up, scale, remove-node, upgrade, reset: the cluster lifecycle as one unit."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from k8s_install.addons import drift as addons_drift
from k8s_install.addons.apply import run_vars
from k8s_install.ansible import actions as action_table
from k8s_install.ansible import security
from k8s_install.base.errors import ExitCode, InvalidInput
from k8s_install.base.output import Output
from k8s_install.checks import drift
from k8s_install.commands.common import (
    check_addon_values,
    config_option,
    json_option,
    load_cluster,
    output,
)
from k8s_install.engine import kubespray
from k8s_install.lifecycle import apply, backup, plan
from k8s_install.model import config
from k8s_install.records import in_cluster, runs


def _engine_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--engine-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=kubespray.ENV_DIR,
        help=f"Use this Kubespray checkout (development; not verified). Also {kubespray.ENV_DIR}.",
    )(func)


def _yes_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option("-y", "--yes", is_flag=True, help="Apply without asking.")(func)


def _dirty_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--allow-dirty",
        is_flag=True,
        help="Run even with uncommitted changes in the cluster repo.",
    )(func)


def _show_plan(the_plan: plan.Plan, out: Output) -> None:
    out.problems(list(the_plan.problems))
    for line in plan.describe(the_plan):
        out.info(line)


def _blocked(the_plan: plan.Plan) -> InvalidInput:
    return InvalidInput(
        f"the plan for {the_plan.cluster} is blocked by {len(the_plan.problems)} problem(s); "
        "nothing was run",
        list(the_plan.problems),
    )


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(
            "no terminal to confirm on, and --yes was not given; nothing was run",
            fix="review `k8s-install plan`, then run again with --yes",
        )
    if not click.confirm(question, default=False):
        raise click.exceptions.Exit(int(ExitCode.OK))


# Actions whose playbooks install addons, and commands that leave their record in the cluster.
ADDON_ACTIONS = {
    name
    for name, row in action_table.LIFECYCLE.items()
    if set(action_table.ADDON_VARS) <= set(row.extravars)
}
PUBLISHING_COMMANDS = set(action_table.COMMANDS["publish_record"].commands)


def _check_drift(cluster: config.Cluster, fail_on_drift: bool, out: Output) -> list[str]:
    """Warn (or, with --fail-on-drift, stop) when the hosts moved away from what Git applied.
    Returns the addon releases whose live objects drifted: the run restores them."""
    report = drift.detect(cluster, out)
    if not report.has_drift:
        return []
    for line in drift.summary(report):
        out.warn(line)
    _refuse_or_overwrite(fail_on_drift, out)
    return drift.drifted_releases(report.addons)


def _check_addon_drift(cluster: config.Cluster, fail_on_drift: bool, out: Output) -> list[str]:
    """With nothing planned, only the addons' live objects are compared (no Ansible run):
    the addon releases that drifted, after the same warning or refusal as _check_drift."""
    releases, notes = drift.addon_drift(cluster)
    for note in notes:
        out.warn(note)
    drifted = drift.drifted_releases(releases)
    if not drifted:
        return []
    for line in addons_drift.summary_lines(releases):
        out.warn(line)
    _refuse_or_overwrite(fail_on_drift, out)
    return drifted


def _refuse_or_overwrite(fail_on_drift: bool, out: Output) -> None:
    if fail_on_drift:
        raise InvalidInput(
            "the hosts drifted from what Git says was applied; nothing was changed",
            fix="review `k8s-install drift`, keep the hand-made fixes in cluster.yaml, "
            "or run without --fail-on-drift to overwrite them",
        )
    out.warn("applying will overwrite these hand-made changes")


def _backup_folder(cluster: config.Cluster) -> Path:
    folder = backup.directory(cluster)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def _keep_upgrade_snapshots(cluster: config.Cluster, done: apply.Applied, out: Output) -> None:
    """Check the pre-upgrade snapshots that reached the control machine, then apply retention."""
    for action, result in done.results:
        if action.kind != "upgrade":
            continue
        snapshot = backup.reported(result.artifacts)
        if snapshot is None:
            continue
        kept = backup.verify_local(snapshot, _backup_folder(cluster))
        out.info(f"pre-upgrade etcd snapshot: {kept.local_path}")
        keep = int(cluster.section("backup").get("retention", 7))
        backup.prune(_backup_folder(cluster), f"{cluster.name}-etcd", keep)


def _verify_bundle(cluster: config.Cluster, actions: list[plan.Action], out: Output) -> None:
    """The offline bundle, checked before drift, confirmation or any run (exit 2 if bad)."""
    report = apply.verify_bundle(cluster, actions)
    if report is not None:
        out.info(f"verified the offline bundle: {report.files} files in {report.seconds:.1f}s")


def _ensure_clean(cluster: config.Cluster, allow_dirty: bool, out: Output) -> None:
    for path in runs.ensure_clean(cluster, allow_dirty):
        out.warn(f"uncommitted change in {path}; running anyway (--allow-dirty)")


def _run(
    cluster: config.Cluster,
    the_plan: plan.Plan,
    actions: list[plan.Action],
    *,
    command: str,
    engine_dir: Path | None,
    allow_dirty: bool,
    extravars: dict[str, object] | None = None,
    restore: list[str] | None = None,
) -> None:
    out = output()
    security.vault_password_file(cluster)  # fails before any host is contacted
    _ensure_clean(cluster, allow_dirty, out)
    found = kubespray.resolve(
        cluster.engine_release,
        cluster=cluster,
        engine_dir=engine_dir,
        log=out.info if not out.json_mode else out.err.print,
    )
    variables = dict(extravars or {})
    if any(a.kind == "upgrade" for a in actions):
        # The mandatory pre-upgrade snapshot is copied to the control machine too.
        variables["etcd_backup_fetch_dir"] = str(_backup_folder(cluster))
    if any(a.kind in ADDON_ACTIONS for a in actions):
        variables.update(run_vars(cluster, restore=restore or ()))
    done = apply.apply(
        cluster, the_plan, found, out, command=command, actions=actions, extravars=variables
    )
    _keep_upgrade_snapshots(cluster, done, out)
    if done.complete and command in PUBLISHING_COMMANDS:
        published, message = in_cluster.publish_latest(cluster)
        if not published:
            out.warn(f"the run record was not written to the cluster: {message}")
    if out.json_mode:
        out.emit_line({"type": "apply", **done.as_dict()})
    elif done.complete:
        out.info(f"[green]✓[/green] {command}: every action succeeded")
    raise click.exceptions.Exit(int(done.exit_code))


@click.command("plan")
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="markdown: a table for a merge request description.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when there are changes, 1 when blocked.",
)
@json_option
def plan_command(config_path: Path, fmt: str, detailed_exitcode: bool) -> None:
    """Show the minimal actions that take the cluster to what cluster.yaml says.

    Compares cluster.yaml with state/applied.yaml (the last applied spec) and
    never contacts a host. New worker nodes: the scale path, limited to them.
    Removed nodes: remove-node. A version change: upgrade, one minor at a time.
    Only addons changed: the addons play alone. Other settings: a full converge,
    naming each setting. Nothing changed: no Ansible run at all.

    \b
    Examples:
      k8s-install plan
      k8s-install plan --format markdown > plan.md
      k8s-install plan --detailed-exitcode || echo "changes pending"
      k8s-install plan --json
    """
    out = output()
    cluster = config.load(config_path)
    check_addon_values(cluster)
    the_plan = apply.make_plan(cluster)
    if out.json_mode:
        out.emit(the_plan.as_dict())
    elif fmt == "markdown":
        click.echo(plan.markdown(the_plan), nl=False)
    else:
        _show_plan(the_plan, out)
    if the_plan.blocked:
        code = ExitCode.RUN_FAILED if detailed_exitcode else ExitCode.INVALID_INPUT
        raise click.exceptions.Exit(int(code))
    if detailed_exitcode and the_plan.changes:
        raise click.exceptions.Exit(2)


@click.command()
@config_option
@_yes_option
@_engine_option
@_dirty_option
@click.option(
    "--fail-on-drift",
    is_flag=True,
    help="Stop (exit 2) when the hosts drifted from what Git says was applied.",
)
@click.option("--skip-drift-check", is_flag=True, help="Do not check the hosts for drift first.")
@click.option(
    "--converge",
    is_flag=True,
    help="Run a full converge even when cluster.yaml matches what was applied.",
)
@json_option
def up(
    config_path: Path,
    yes: bool,
    engine_dir: Path | None,
    allow_dirty: bool,
    fail_on_drift: bool,
    skip_drift_check: bool,
    converge: bool,
) -> None:
    """Plan, then apply: bring the cluster to what cluster.yaml says.

    Validates, plans, asks for confirmation (unless --yes), runs each planned
    action and records every run in the cluster repo. The first install is a
    full run; a cluster already matching cluster.yaml runs no Ansible at all.
    Without a terminal, --yes is required.

    \b
    Examples:
      k8s-install up
      k8s-install up --yes --json
      k8s-install up --yes --fail-on-drift          # CI: never overwrite hand-made fixes
      k8s-install up --engine-dir ~/src/kubespray   # development checkout
      k8s-install up --converge --yes               # apply every setting again
    """
    out = output()
    cluster = load_cluster(config_path)
    check_addon_values(cluster)
    the_plan = apply.make_plan(cluster)
    if converge:
        the_plan = plan.with_converge(the_plan, cluster.spec)
    if not out.json_mode:
        _show_plan(the_plan, out)
    if the_plan.blocked:
        raise _blocked(the_plan)
    restore: list[str] = []
    if not the_plan.changes:
        if not skip_drift_check:
            restore = _check_addon_drift(cluster, fail_on_drift, out)
        if not restore:
            if out.json_mode:
                out.emit_line({"type": "apply", "plan": the_plan.as_dict(), "runs": []})
            return
        the_plan = plan.with_restore(the_plan, restore)
        if not out.json_mode:
            _show_plan(the_plan, out)
        _verify_bundle(cluster, list(the_plan.actions), out)
    else:
        _verify_bundle(cluster, list(the_plan.actions), out)
        if not skip_drift_check:
            restore = _check_drift(cluster, fail_on_drift, out)
    _confirm(yes, f"Apply {len(the_plan.actions)} action(s) to {cluster.name}?")
    _run(
        cluster,
        the_plan,
        list(the_plan.actions),
        command="up",
        engine_dir=engine_dir,
        allow_dirty=allow_dirty,
        restore=restore,
    )


def _only(the_plan: plan.Plan, kinds: set[str], what: str, out: Output) -> list[plan.Action]:
    if the_plan.blocked:
        raise _blocked(the_plan)
    chosen = [a for a in the_plan.actions if a.kind in kinds]
    others = [a for a in the_plan.actions if a.kind not in kinds]
    if not any(a.kind != "facts" for a in chosen):
        raise InvalidInput(
            f"there is nothing to {what}: the plan has no such action",
            fix="see `k8s-install plan` for what would change",
        )
    for action in others:
        out.warn(f"not run by this command (use `k8s-install up`): {action.summary}")
    return chosen


@click.command()
@config_option
@_yes_option
@_engine_option
@_dirty_option
@json_option
def scale(config_path: Path, yes: bool, engine_dir: Path | None, allow_dirty: bool) -> None:
    """Add the worker nodes that are in cluster.yaml but not yet in the cluster.

    Runs the engine's scale playbook limited to the new nodes; the facts of the
    other nodes come from the fact cache (refreshed only where missing or stale).
    Control-plane and etcd nodes join through `k8s-install up`.

    \b
    Examples:
      k8s-install scale
      k8s-install scale --yes --json
    """
    out = output()
    cluster = load_cluster(config_path)
    the_plan = apply.make_plan(cluster)
    actions = _only(the_plan, {"facts", "scale"}, "scale", out)
    for action in actions:
        out.info(action.summary)
    _verify_bundle(cluster, actions, out)
    _confirm(yes, f"Add {', '.join(actions[-1].nodes)} to {cluster.name}?")
    _run(
        cluster,
        the_plan,
        actions,
        command="scale",
        engine_dir=engine_dir,
        allow_dirty=allow_dirty,
    )


@click.command("remove-node")
@click.argument("node")
@config_option
@_yes_option
@_engine_option
@_dirty_option
@json_option
def remove_node(
    node: str, config_path: Path, yes: bool, engine_dir: Path | None, allow_dirty: bool
) -> None:
    """Drain and remove NODE, which must already be deleted from cluster.yaml.

    Refuses the last control-plane node and anything that would break the etcd
    quorum. Cordons and drains first: a failed drain uncordons the node and
    stops, and the node is never removed anyway. Then the engine removes it and
    its etcd member, and resets it.

    \b
    Examples:
      k8s-install remove-node worker3
      k8s-install remove-node worker3 --yes --json
    """
    out = output()
    cluster = load_cluster(config_path)
    if node in {n.name for n in cluster.nodes}:
        raise InvalidInput(
            f"{node} is still in cluster.yaml",
            fix=f"delete {node} from nodes: in cluster.yaml first (the next `up` would add it "
            "back otherwise), then run this again",
        )
    the_plan = apply.make_plan(cluster)
    if the_plan.blocked:
        raise _blocked(the_plan)
    actions = [a for a in the_plan.actions if a.kind == "remove_node" and a.nodes == (node,)]
    if not actions:
        raise InvalidInput(
            f"{node} is not a node of the last applied cluster",
            fix="check the name against state/applied.yaml and `k8s-install plan`",
        )
    if "etcd" in actions[0].data["node"].get("roles", []):
        # The remaining nodes learn the new member list in the same command.
        actions += [a for a in the_plan.actions if a.kind == "etcd_leave"]
    facts = [a for a in the_plan.actions if a.kind == "facts"]
    for action in actions:
        out.info(action.summary)
    _verify_bundle(cluster, facts + actions, out)
    _confirm(yes, f"Remove {node} from {cluster.name}?")
    _run(
        cluster,
        the_plan,
        facts + actions,
        command="remove-node",
        engine_dir=engine_dir,
        allow_dirty=allow_dirty,
    )


@click.command()
@config_option
@_yes_option
@_engine_option
@_dirty_option
@click.option(
    "--batch",
    default="20%",
    show_default=True,
    help="How many workers upgrade at once (a number or a percentage).",
)
@click.option(
    "--allow-not-ready",
    is_flag=True,
    help="Upgrade even when a node is not Ready (refused by default, before anything changes).",
)
@json_option
def upgrade(
    config_path: Path,
    yes: bool,
    engine_dir: Path | None,
    allow_dirty: bool,
    batch: str,
    allow_not_ready: bool,
) -> None:
    """Upgrade Kubernetes to kubernetes.version in cluster.yaml, one minor at a time.

    Checks the step against the last applied and the live version, takes an etcd
    snapshot first (a failed snapshot stops before anything restarts), upgrades
    the control plane one node at a time, then workers in batches with drain
    and uncordon. Never runs the install playbook by mistake.

    \b
    Examples:
      k8s-install upgrade
      k8s-install upgrade --batch 1 --yes
      k8s-install upgrade --allow-not-ready     # a node is down and stays down
    """
    out = output()
    cluster = load_cluster(config_path)
    the_plan = apply.make_plan(cluster)
    actions = _only(the_plan, {"upgrade"}, "upgrade", out)
    out.info(actions[0].summary)
    _verify_bundle(cluster, actions, out)
    _confirm(yes, f"Upgrade {cluster.name}?")
    _run(
        cluster,
        the_plan,
        actions,
        command="upgrade",
        engine_dir=engine_dir,
        allow_dirty=allow_dirty,
        extravars={"serial": batch, "k8s_install_upgrade_allow_not_ready": allow_not_ready},
    )


@click.command()
@config_option
@click.option("--yes", is_flag=True, help="Required: reset really wipes every node.")
@_engine_option
@_dirty_option
@json_option
def reset(config_path: Path, yes: bool, engine_dir: Path | None, allow_dirty: bool) -> None:
    """Wipe Kubernetes from every node in cluster.yaml. Needs --yes; never prompts.

    \b
    Examples:
      k8s-install reset --yes
    """
    cluster = load_cluster(config_path)
    if not yes:
        raise InvalidInput(
            f"reset wipes Kubernetes and its data from all {len(cluster.nodes)} nodes of "
            f"{cluster.name}; nothing was run",
            fix="run `k8s-install reset --yes` if you mean it",
        )
    action = plan.Action(
        "reset",
        f"Reset all {len(cluster.nodes)} nodes: remove Kubernetes, etcd and their data.",
        nodes=tuple(n.name for n in cluster.nodes),
    )
    the_plan = plan.Plan(cluster.name, False, (action,))
    _run(
        cluster,
        the_plan,
        [action],
        command="reset",
        engine_dir=engine_dir,
        allow_dirty=allow_dirty,
        extravars={"k8s_install_confirmed": True},
    )


COMMANDS: list[click.Command] = [plan_command, up, scale, remove_node, upgrade, reset]
