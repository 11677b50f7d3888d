"""The one table from every action k8s-install runs to its playbook and its extra-vars policy.

An action is what one Ansible run does: a lifecycle action of a plan (install, converge, scale,
...) or the run of a command (ping, preflight, backup, ...). Every run is built by `request()`,
which picks the playbook from this table, passes `k8s_install_command` (the CLI command) and
`k8s_install_action` (the row's name) to every playbook, and refuses any other extra-var the row
does not list. Extra-vars are only for what the CLI itself decides; user config stays in the
inventory. This is kolla-ansible's `kolla_action`, as a table instead of one class per command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k8s_install.ansible import runner, security
from k8s_install.model.config import Cluster

# Passed to every run: which command runs, and which row of the table it runs.
COMMAND_VAR = "k8s_install_command"
ACTION_VAR = "k8s_install_action"
# The engine checkout, for the playbooks that import the engine's own playbooks.
ENGINE_VAR = "k8s_install_engine_dir"
ADDON_VARS = (
    "k8s_install_addons_plan",
    "k8s_install_addons_local",
    "k8s_install_addons_kubeconfig",
)

# The engine's own steps for a changed etcd membership (docs/operations/nodes.md): its asserts
# off, as the member count is even for a while, and its control-plane role rewriting the API
# servers' --etcd-servers (kubeadm upgrade at the same version).
ETCD_MEMBERS_VARS = ("ignore_assert_errors", "upgrade_cluster_setup")
# The offline registry's CA on the control machine, for the runs whose nodes may be new.
TRUST_VAR = "registry_trust_ca_file"


@dataclass(frozen=True)
class Action:
    """One row: the playbook, who runs it, the extra-vars the CLI may pass, the vault, and how
    long a run is expected to take (with an SSH CA, its certificate's validity before the
    margin, access.ssh_ca.margin_minutes)."""

    playbook: str
    commands: tuple[str, ...]
    extravars: tuple[str, ...] = ()
    vault: bool = True  # every playbook starts with vault.yml
    minutes: int = 15


# Lifecycle actions, in the order a plan applies them.
LIFECYCLE: dict[str, Action] = {
    "install": Action(
        "up.yml", ("up",), (ENGINE_VAR, TRUST_VAR, *ADDON_VARS), vault=True, minutes=90
    ),
    "facts": Action("facts.yml", ("up", "scale", "remove-node"), (ENGINE_VAR,), vault=True),
    "etcd_join": Action(
        "etcd_members.yml", ("up",), (ENGINE_VAR, TRUST_VAR, *ETCD_MEMBERS_VARS), vault=True
    ),
    "converge": Action(
        "up.yml", ("up",), (ENGINE_VAR, TRUST_VAR, *ADDON_VARS), vault=True, minutes=90
    ),
    "scale": Action("scale.yml", ("up", "scale"), (ENGINE_VAR, TRUST_VAR), vault=True, minutes=60),
    "remove_node": Action(
        "remove_node.yml",
        ("up", "remove-node"),
        (ENGINE_VAR, "node", "ignore_assert_errors"),
        vault=True,
    ),
    "etcd_leave": Action(
        "etcd_members.yml",
        ("up", "remove-node"),
        (ENGINE_VAR, TRUST_VAR, *ETCD_MEMBERS_VARS),
        vault=True,
    ),
    "upgrade": Action(
        "upgrade.yml",
        ("up", "upgrade"),
        (ENGINE_VAR, "serial", "etcd_backup_fetch_dir", "k8s_install_upgrade_allow_not_ready"),
        vault=True,
        minutes=120,
    ),
    "addons": Action("addons.yml", ("up",), (ENGINE_VAR, *ADDON_VARS), vault=True, minutes=30),
    "reset": Action(
        "reset.yml", ("reset",), (ENGINE_VAR, "k8s_install_confirmed"), vault=True, minutes=30
    ),
}

# Runs of single commands.
COMMANDS: dict[str, Action] = {
    "ping": Action("ping.yml", ("ping",), vault=True),
    "preflight": Action("preflight.yml", ("preflight",), ("preflight_fail_on_error",), vault=True),
    "backup": Action("backup.yml", ("backup",), ("etcd_backup_fetch_dir",), vault=True),
    "restore": Action("restore.yml", ("restore",), ("etcd_restore_snapshot",), vault=True),
    "drift": Action("drift.yml", ("drift", "up"), vault=True),
    "addons_apply": Action("addons.yml", ("addons apply", "addons remove"), ADDON_VARS, vault=True),
    "publish_record": Action(
        "cluster_state.yml",
        ("up", "scale", "remove-node", "upgrade"),
        ("k8s_install_state_configmap",),
        vault=True,
    ),
    "read_record": Action("cluster_state_read.yml", ("status",), vault=True),
    "bundle_serve": Action(
        "offline_repo.yml",
        ("bundle serve",),
        (
            "k8s_install_offline_repo_host",
            "offline_repo_bundle_dir",
            "offline_repo_tls_dir",
            "registry_trust_ca_file",
            "offline_repo_push_from",
        ),
        vault=True,
    ),
    "ssh_ca_push": Action(
        "ssh_ca.yml",
        ("access push", "access ca init", "access ca rotate", "access revoke"),
        vault=True,
    ),
    "ssh_ca_check": Action("ssh_ca_check.yml", ("access retire-key",), vault=True),
    "ssh_ca_retire": Action(
        "ssh_ca_retire.yml", ("access retire-key",), ("ssh_ca_retire_key",), vault=True
    ),
}

ACTIONS: dict[str, Action] = {**LIFECYCLE, **COMMANDS}
assert len(ACTIONS) == len(LIFECYCLE) + len(COMMANDS), "an action name is in both tables"

# Playbooks no action runs directly: other playbooks import them.
IMPORTED: dict[str, str] = {
    "vault.yml": "loads access.become_password_vault_file; imported by the playbooks with vault",
    "stop_on_failure.yml": (
        "stops every host when a gate failed; imported by up, scale, remove_node, upgrade and "
        "etcd_members"
    ),
    "post_checks.yml": "checks the cluster after a change; imported by up, scale, upgrade",
    "pod_network.yml": (
        "network.plugin bridge: node bridges and routes; imported by up, scale, upgrade"
    ),
    "node_prepare.yml": (
        "the node baseline, the SSH CA and the registry's CA before the engine; imported by up, "
        "scale, upgrade"
    ),
    "kubeconfig.yml": (
        "the admin kubeconfig for the control machine, in .k8s-install/; imported by up, upgrade"
    ),
}


def playbook(action: str) -> str:
    """The playbook an action runs."""
    return ACTIONS[action].playbook


def allowed(action: str, extravars: dict[str, Any]) -> dict[str, Any]:
    """The subset of extravars the action's row lists (a plan passes one set to every action)."""
    names = ACTIONS[action].extravars
    return {key: value for key, value in extravars.items() if key in names}


def request(
    cluster: Cluster,
    action: str,
    command: str,
    *,
    extravars: dict[str, Any] | None = None,
    **options: Any,
) -> runner.RunRequest:
    """The run of `action` for `command` against cluster; raises ValueError on an extra-var
    its row does not list (a programming error, never a user's)."""
    row = ACTIONS[action]
    given = dict(extravars or {})
    unexpected = sorted(set(given) - set(row.extravars))
    if unexpected:
        raise ValueError(f"action {action} does not take the extra-vars {', '.join(unexpected)}")
    if row.vault:
        options.setdefault("vault_password_file", security.vault_password_file(cluster))
    variables = {COMMAND_VAR: command, ACTION_VAR: action, **given}
    options.setdefault("expected_minutes", row.minutes)
    return runner.for_cluster(cluster, row.playbook, command, extravars=variables, **options)


def table() -> list[dict[str, str]]:
    """The table for people (docs/architecture.md): one row per action."""
    return [
        {
            "action": name,
            "kind": "lifecycle" if name in LIFECYCLE else "command",
            "playbook": row.playbook,
            "commands": ", ".join(row.commands),
            "extravars": ", ".join(row.extravars) or "-",
            "vault": "yes" if row.vault else "no",
            "minutes": str(row.minutes),
        }
        for name, row in ACTIONS.items()
    ]
