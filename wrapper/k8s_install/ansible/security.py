"""Secure-by-default engine settings, generated into group_vars/all/10-security.yml.

Each setting of cluster.yaml `security:` maps to Kubespray v2.31.0 variables (names checked
against the engine by tests/test_security.py) and to the CIS Kubernetes Benchmark v1.10 items
it addresses (docs/security.md is written from the same table). A user opts out per setting;
a `kubespray:` override still wins, as it is written to a later group_vars file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8s_install.base.errors import InvalidInput, Problem
from k8s_install.model.config import Cluster

# The file holding the ansible-vault password; ansible-playbook reads it (--vault-password-file),
# the password itself never passes through k8s-install's arguments, extra-vars or artifacts.
VAULT_PASSWORD_ENV = "K8S_INSTALL_VAULT_PASSWORD_FILE"

# Health endpoints kubeadm's liveness/readiness probes call without credentials.
HEALTH_PATHS = ("/livez", "/readyz", "/healthz")
# kubeadm join reads cluster-info anonymously to check the discovery file. Authenticated as
# anonymous there, it is refused by RBAC (403: remove_anonymous_access drops the binding) and
# kubeadm carries on with the file; unauthenticated (401) it waits and aborts the join.
CLUSTER_INFO_PATH = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
ANONYMOUS_PATHS = (*HEALTH_PATHS, CLUSTER_INFO_PATH)


@dataclass(frozen=True)
class Setting:
    """One `security:` key: what it turns on, when, and which CIS items it covers."""

    key: str
    summary: str
    cis: tuple[str, ...]
    enabled: Callable[[Any], bool]
    variables: Callable[[Any], dict[str, Any]]
    # Written when the user opts out and the engine's own default is the secure one.
    opted_out: tuple[tuple[str, Any], ...] = ()


def _audit(_value: Any) -> dict[str, Any]:
    return {
        "kubernetes_audit": True,
        "audit_log_maxage": 30,
        "audit_log_maxbackups": 10,
        "audit_log_maxsize": 100,
    }


def _encryption(_value: Any) -> dict[str, Any]:
    return {
        "kube_encrypt_secret_data": True,
        "kube_encryption_algorithm": "secretbox",
        "kube_encryption_resources": ["secrets"],
    }


def _pod_security(level: Any) -> dict[str, Any]:
    return {
        # Setting the list replaces kubeadm's default, so NodeRestriction is named again.
        "kube_apiserver_enable_admission_plugins": ["NodeRestriction", "PodSecurity"],
        "kube_apiserver_admission_control_config_file": True,
        "kube_pod_security_use_default": True,
        "kube_pod_security_default_enforce": str(level),
        "kube_pod_security_default_audit": "restricted",
        "kube_pod_security_default_warn": "restricted",
        "kube_pod_security_exemptions_namespaces": ["kube-system"],
    }


def _no_anonymous(_value: Any) -> dict[str, Any]:
    # `--anonymous-auth=false` breaks kubeadm's unauthenticated health probes (Kubespray's
    # defaults say so), so anonymous requests are allowed on the health paths only, through the
    # structured AuthenticationConfiguration, and kubeadm's anonymous RoleBinding is removed.
    return {
        "kube_apiserver_use_authentication_config_file": True,
        "kube_apiserver_authentication_config_anonymous": {
            "enabled": True,
            "conditions": [{"path": path} for path in ANONYMOUS_PATHS],
        },
        "remove_anonymous_access": True,
        "kubelet_authentication_token_webhook": True,
        "kubelet_authorization_mode_webhook": True,
    }


def _read_only_port_off(_value: Any) -> dict[str, Any]:
    return {"kube_read_only_port": 0}


def _bind_local(_value: Any) -> dict[str, Any]:
    # The API server must stay reachable by nodes and clients, so it keeps its bind address.
    return {
        "kube_controller_manager_bind_address": "127.0.0.1",
        "kube_scheduler_bind_address": "127.0.0.1",
        "kube_profiling": False,
    }


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "audit_logging",
        "API server audit log with 30 days, 10 files and 100 MB retention",
        ("1.2.16", "1.2.17", "1.2.18", "1.2.19", "3.2.1"),
        bool,
        _audit,
    ),
    Setting(
        "secrets_encryption",
        "Secrets encrypted at rest in etcd (secretbox)",
        ("1.2.27", "1.2.28"),
        bool,
        _encryption,
    ),
    Setting(
        "pod_security",
        "PodSecurity admission enforcing the chosen level by default (audit and warn: restricted)",
        ("1.2.14", "5.2.1", "5.2.2", "5.2.3", "5.2.4", "5.2.5", "5.2.6"),
        lambda level: level != "privileged",
        _pod_security,
    ),
    Setting(
        "anonymous_auth",
        "Anonymous API requests refused except on /livez, /readyz, /healthz (and cluster-info, "
        "which RBAC still refuses them); kubelet webhook auth",
        ("1.2.1", "4.2.1", "4.2.2"),
        lambda allowed: not allowed,
        _no_anonymous,
    ),
    Setting(
        "kubelet_read_only_port",
        "Kubelet read-only port 10255 closed",
        ("4.2.4",),
        lambda opened: not opened,
        _read_only_port_off,
        (("kube_read_only_port", 10255),),
    ),
    Setting(
        "bind_local",
        "Controller manager and scheduler bound to 127.0.0.1, profiling off",
        ("1.3.7", "1.4.2", "1.2.15", "1.3.2", "1.4.1"),
        bool,
        _bind_local,
    ),
)

# The cluster repo as the inventory's variables name it: the parent of inventory/
# (ansible/inventory.py rebases it for an inventory elsewhere). The implicit localhost of a
# play has no inventory_dir: it takes the inventory source instead.
INVENTORY_DIR = "inventory_dir | default(ansible_inventory_sources | first)"
REPO_DIR = "{{ " + INVENTORY_DIR + " | dirname }}"

# Always written: the engine's generated credentials (the secrets encryption key among them)
# go to the ignored .k8s-install/ of the cluster repo instead of inventory/, which is committed.
ALWAYS: dict[str, Any] = {
    "credentials_dir": f"{REPO_DIR}/.k8s-install/credentials",
}


def enabled(cluster: Cluster) -> dict[str, bool]:
    """Which settings are on for this cluster."""
    section = cluster.section("security")
    return {s.key: s.enabled(section.get(s.key)) for s in SETTINGS}


def _vault_file(cluster: Cluster) -> str | None:
    """access.become_password_vault_file, relative to the cluster repo so it can move."""
    value = cluster.section("access").get("become_password_vault_file")
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return str(path) if path.is_absolute() else f"{REPO_DIR}/{path}"


def group_vars(cluster: Cluster) -> dict[str, Any]:
    """Kubespray variables for every setting the cluster has not opted out of."""
    section = cluster.section("security")
    result: dict[str, Any] = dict(ALWAYS)
    vault_file = _vault_file(cluster)
    if vault_file:
        # The vault playbook (imported, see ansible/actions.py) loads it with include_vars: host variables, never extra-vars.
        result["k8s_install_become_vault_file"] = vault_file
    for setting in SETTINGS:
        value = section.get(setting.key)
        if setting.enabled(value):
            result.update(setting.variables(value))
        else:
            result.update(dict(setting.opted_out))
    return result


def vault_password_file(cluster: Cluster) -> Path | None:
    """The vault password file for a run, from K8S_INSTALL_VAULT_PASSWORD_FILE.

    Required when cluster.yaml names a vaulted become password; checked before any host is
    contacted.
    """
    value = os.environ.get(VAULT_PASSWORD_ENV, "")
    vaulted = cluster.section("access").get("become_password_vault_file")
    if not value:
        if vaulted:
            raise InvalidInput(
                f"access.become_password_vault_file is set but {VAULT_PASSWORD_ENV} is not",
                [
                    Problem(
                        VAULT_PASSWORD_ENV,
                        "no vault password file to decrypt the become password with",
                        f"export {VAULT_PASSWORD_ENV}=/path/to/vault-password-file (mode 0600)",
                    )
                ],
            )
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise InvalidInput(
            f"{VAULT_PASSWORD_ENV} points at {path}, which is not a file",
            [Problem(VAULT_PASSWORD_ENV, f"{path} does not exist", "point it at the file")],
        )
    if (
        vaulted
        and not (cluster.root / str(vaulted)).expanduser().is_file()
        and not Path(str(vaulted)).expanduser().is_file()
    ):
        raise InvalidInput(
            f"access.become_password_vault_file {vaulted} does not exist",
            [
                Problem(
                    "access.become_password_vault_file",
                    f"{vaulted} not found (relative paths start at {cluster.root})",
                    "create it: ansible-vault create FILE, with ansible_become_password: ...",
                )
            ],
        )
    return path


def variable_names() -> set[str]:
    """Every engine variable this module may write (for the engine-name test)."""
    names = set(ALWAYS)
    for setting in SETTINGS:
        names.update(setting.variables("baseline"))
        names.update(name for name, _ in setting.opted_out)
    return names
