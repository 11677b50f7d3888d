"""Secure defaults: the rendered group_vars carry every setting, opt-outs work, names are real."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s_install.ansible import ansible_cfg as ansiblecfg
from k8s_install.ansible import inventory, security
from k8s_install.base.resources import sample_cluster
from k8s_install.model import config

SECURITY_FILE = "group_vars/all/10-security.yml"
KUBESPRAY_DIR = os.environ.get("K8S_INSTALL_KUBESPRAY_DIR")
# Where v2.31.0 defines the variables security.py writes.
ENGINE_DEFAULTS = (
    "roles/kubespray_defaults/defaults/main",
    "roles/kubernetes/control-plane/defaults/main",
    "roles/kubernetes/node/defaults",
)


def _cluster(
    tmp_path: Path, security: dict[str, Any] | None = None, **access: Any
) -> config.Cluster:
    data = yaml.safe_load(sample_cluster().read_text())
    if security is not None:
        data["security"] = security
    if access:
        data.setdefault("access", {}).update(access)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data))
    return config.load(path)


def _rendered(cluster: config.Cluster) -> dict[str, Any]:
    files = inventory.files(cluster)
    data = yaml.safe_load(files[SECURITY_FILE])
    assert isinstance(data, dict)
    return data


def test_defaults_render_every_secure_setting(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    rendered = _rendered(cluster)
    # audit logging (CIS 1.2.16-1.2.19)
    assert rendered["kubernetes_audit"] is True
    assert rendered["audit_log_maxage"] == 30
    assert rendered["audit_log_maxbackups"] == 10
    assert rendered["audit_log_maxsize"] == 100
    # secrets at rest (CIS 1.2.27, 1.2.28)
    assert rendered["kube_encrypt_secret_data"] is True
    assert rendered["kube_encryption_algorithm"] in {"secretbox", "aescbc", "aesgcm"}
    assert rendered["kube_encryption_resources"] == ["secrets"]
    # PodSecurity admission (CIS 5.2.x)
    assert "PodSecurity" in rendered["kube_apiserver_enable_admission_plugins"]
    assert "NodeRestriction" in rendered["kube_apiserver_enable_admission_plugins"]
    assert rendered["kube_apiserver_admission_control_config_file"] is True
    assert rendered["kube_pod_security_use_default"] is True
    assert rendered["kube_pod_security_default_enforce"] == "baseline"
    # anonymous auth off, but for health probes (CIS 1.2.1)
    assert rendered["kube_apiserver_use_authentication_config_file"] is True
    anonymous = rendered["kube_apiserver_authentication_config_anonymous"]
    assert anonymous["enabled"] is True
    assert sorted(c["path"] for c in anonymous["conditions"]) == [
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        "/healthz",
        "/livez",
        "/readyz",
    ]
    assert rendered["remove_anonymous_access"] is True
    assert rendered["kubelet_authorization_mode_webhook"] is True
    # kubelet read-only port (CIS 4.2.4)
    assert rendered["kube_read_only_port"] == 0
    # control plane bound locally (CIS 1.3.7, 1.4.2)
    assert rendered["kube_controller_manager_bind_address"] == "127.0.0.1"
    assert rendered["kube_scheduler_bind_address"] == "127.0.0.1"
    assert rendered["kube_profiling"] is False
    # engine credentials (the encryption key) stay out of the committed inventory
    assert ".k8s-install/credentials" in rendered["credentials_dir"]


def test_ssh_host_key_checking_on_by_default(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    common = inventory.cluster_vars(cluster)["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in common
    request_settings = ansiblecfg.Settings(
        host_key_checking=bool(cluster.section("access")["host_key_checking"])
    )
    cfg = ansiblecfg.render(request_settings, node_count=1, roles_path=[], fact_dir=tmp_path)
    assert "host_key_checking = True" in cfg


def test_ssh_host_key_checking_opt_out(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, host_key_checking=False)
    assert "StrictHostKeyChecking=no" in inventory.cluster_vars(cluster)["ansible_ssh_common_args"]


@pytest.mark.parametrize(
    ("key", "value", "gone", "present"),
    [
        ("audit_logging", False, "kubernetes_audit", None),
        ("secrets_encryption", False, "kube_encrypt_secret_data", None),
        ("pod_security", "privileged", "kube_pod_security_use_default", None),
        ("anonymous_auth", True, "remove_anonymous_access", None),
        ("bind_local", False, "kube_scheduler_bind_address", None),
        ("kubelet_read_only_port", True, None, ("kube_read_only_port", 10255)),
    ],
)
def test_each_setting_opts_out_alone(
    tmp_path: Path, key: str, value: Any, gone: str | None, present: tuple[str, Any] | None
) -> None:
    rendered = _rendered(_cluster(tmp_path, {key: value}))
    if gone:
        assert gone not in rendered
    if present:
        assert rendered[present[0]] == present[1]
    # the other settings stay on
    others = {k for k, on in security.enabled(_cluster(tmp_path, {key: value})).items() if on}
    assert others == {s.key for s in security.SETTINGS} - {key}


def test_restricted_level_is_passed_through(tmp_path: Path) -> None:
    rendered = _rendered(_cluster(tmp_path, {"pod_security": "restricted"}))
    assert rendered["kube_pod_security_default_enforce"] == "restricted"


def test_kubespray_override_still_wins(tmp_path: Path) -> None:
    """User overrides land in a later group_vars file, so Ansible's load order lets them win."""
    data = yaml.safe_load(sample_cluster().read_text())
    data["kubespray"] = {"kube_encryption_algorithm": "aescbc"}
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data))
    files = inventory.files(config.load(path))
    names = sorted(files)
    assert names.index(SECURITY_FILE) < names.index("group_vars/all/90-kubespray-overrides.yml")


def test_every_setting_names_cis_items() -> None:
    for setting in security.SETTINGS:
        assert setting.cis, setting.key
        assert all(re.fullmatch(r"[1-5](\.\d+){1,2}", item) for item in setting.cis)


def test_docs_list_every_setting() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "security.md").read_text()
    for setting in security.SETTINGS:
        assert f"`{setting.key}`" in docs
        for item in setting.cis:
            assert item in docs, f"{setting.key}: CIS {item} missing from docs/security.md"


@pytest.mark.engine
@pytest.mark.skipif(
    not KUBESPRAY_DIR, reason="set K8S_INSTALL_KUBESPRAY_DIR to a Kubespray v2.31.0 checkout"
)
def test_every_variable_exists_in_the_engine() -> None:
    root = Path(str(KUBESPRAY_DIR))
    defined: set[str] = set()
    for directory in ENGINE_DEFAULTS:
        for path in (root / directory).rglob("*.y*ml"):
            data = yaml.safe_load(path.read_text()) or {}
            defined.update(data)
    missing = sorted(security.variable_names() - defined)
    assert not missing, f"not defined by the engine's defaults: {missing}"
