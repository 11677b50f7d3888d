"""Removing an etcd member: the removal inventory holds the member too, so its etcd count is even.

The sample has three etcd members (cp1..cp3). Replacing cp3 with cp4 in one edit is valid
cluster.yaml (three members), but the engine's remove_node.yml sees cp1..cp4, and its
validate_inventory refuses an even count unless asserts are off. The engine test runs that
very role against the inventory k8s-install writes for the removal.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from k8s_install.ansible import inventory
from k8s_install.base import resources
from k8s_install.lifecycle import apply
from k8s_install.model import config
from k8s_install.records import applied_file

ENGINE_DIR = os.environ.get("K8S_INSTALL_KUBESPRAY_DIR", "")
VALIDATE = """\
- name: The engine's inventory validation, as its playbooks run it first
  hosts: all
  gather_facts: false
  roles:
    - dynamic_groups
    - validate_inventory
"""


def _replace_member(sample_copy: Path) -> tuple[config.Cluster, dict[str, object]]:
    applied_file.write_applied(config.load(sample_copy))
    data = yaml.safe_load(sample_copy.read_text())
    gone = next(n for n in data["nodes"] if n["name"] == "cp3")
    new = copy.deepcopy(gone)
    new.update(name="cp4", address="192.0.2.14")
    new.pop("internal_address", None)
    data["nodes"] = [n for n in data["nodes"] if n["name"] != "cp3"] + [new]
    sample_copy.write_text(yaml.safe_dump(data, sort_keys=False))
    return config.load(sample_copy), gone


def test_removing_an_etcd_member_turns_the_engine_asserts_off(sample_copy: Path) -> None:
    cluster, gone = _replace_member(sample_copy)
    with_node = apply.removal_cluster(cluster, gone)
    assert sum("etcd" in n.roles for n in with_node.nodes) == 4
    assert apply.removal_extravars(with_node) == {"ignore_assert_errors": True}


def test_removing_a_worker_keeps_the_engine_asserts(sample_copy: Path) -> None:
    applied_file.write_applied(config.load(sample_copy))
    data = yaml.safe_load(sample_copy.read_text())
    gone = next(n for n in data["nodes"] if n["name"] == "worker2")
    data["nodes"] = [n for n in data["nodes"] if n["name"] != "worker2"]
    sample_copy.write_text(yaml.safe_dump(data, sort_keys=False))
    with_node = apply.removal_cluster(config.load(sample_copy), gone)
    assert apply.removal_extravars(with_node) == {}


@pytest.mark.engine
@pytest.mark.skipif(not ENGINE_DIR, reason="K8S_INSTALL_KUBESPRAY_DIR is not set")
@pytest.mark.parametrize("asserts_off", [False, True])
def test_the_engine_accepts_the_removal_inventory_only_with_asserts_off(
    sample_copy: Path, tmp_path: Path, asserts_off: bool
) -> None:
    cluster, gone = _replace_member(sample_copy)
    with_node = apply.removal_cluster(cluster, gone)
    directory = tmp_path / "inventory"
    inventory.write(with_node, directory)
    play = tmp_path / "validate.yml"
    play.write_text(VALIDATE)
    extra = apply.removal_extravars(with_node) if asserts_off else {}
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(directory), str(play)]
    for key, value in extra.items():
        cmd += ["-e", f"{key}={str(value).lower()}"]
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": f"{ENGINE_DIR}/roles:{resources.data_dir('roles')}",
        "ANSIBLE_LIBRARY": f"{ENGINE_DIR}/library",
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    if asserts_off:
        assert proc.returncode == 0, proc.stdout[-3000:]
    else:
        assert proc.returncode != 0
        assert "Stop if even number of etcd hosts" in proc.stdout


def test_the_removal_inventory_names_the_repo_s_files(sample_copy: Path, tmp_path: Path) -> None:
    """The removal inventory lives in .k8s-install/inventory-remove: its known_hosts, key and
    credentials paths must still point into the cluster repo (Ansible templates them)."""
    data = yaml.safe_load(sample_copy.read_text())
    data["access"].update(ssh_key="keys/id_ed25519", known_hosts="keys/known_hosts")
    sample_copy.write_text(yaml.safe_dump(data, sort_keys=False))
    cluster, gone = _replace_member(sample_copy)
    directory = sample_copy.parent / ".k8s-install" / "inventory-remove"
    inventory.write(apply.removal_cluster(cluster, gone), directory)
    show = "{{ ansible_ssh_private_key_file }} {{ ansible_ssh_common_args }} {{ credentials_dir }}"
    cmd = [str(Path(sys.executable).parent / "ansible"), "-i", str(directory), "cp4"]
    cmd += ["-c", "local", "-m", "ansible.builtin.debug", "-a", f"msg='{show}'"]
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"), "NO_COLOR": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = str(sample_copy.parent)
    assert f"{root}/keys/id_ed25519 " in proc.stdout
    assert f"UserKnownHostsFile={root}/keys/known_hosts" in proc.stdout
    assert f"{root}/.k8s-install/credentials" in proc.stdout
    assert f"{root}/.k8s-install/keys" not in proc.stdout
    # The engine's remove_node.yml starts with a play on the implicit localhost.
    cmd = [str(Path(sys.executable).parent / "ansible"), "-i", str(directory), "localhost"]
    cmd += ["-m", "ansible.builtin.debug", "-a", "msg='{{ ansible_ssh_private_key_file }}'"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{root}/keys/id_ed25519" in proc.stdout
