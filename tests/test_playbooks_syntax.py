"""Our lifecycle playbooks against the pinned engine: syntax, lint, and the checks that run first.

The engine-marked tests need a Kubespray checkout in K8S_INSTALL_KUBESPRAY_DIR; without one they
are skipped with the reason printed. The gate test needs nothing but ansible.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from k8s_install.base import resources

ENGINE_DIR = os.environ.get("K8S_INSTALL_KUBESPRAY_DIR")
BIN = Path(sys.executable).parent
LIFECYCLE = ["up.yml", "scale.yml", "remove_node.yml", "upgrade.yml", "reset.yml", "facts.yml"]
OWN = ["post_checks.yml", "stop_on_failure.yml"]
needs_engine = pytest.mark.skipif(
    not ENGINE_DIR,
    reason="K8S_INSTALL_KUBESPRAY_DIR is not set: the lifecycle playbooks import the engine's "
    "playbooks (see docs/testing-boundary.md for how to get a checkout)",
)

INVENTORY = """\
all:
  hosts:
    cp1: {ansible_host: 192.0.2.1, ip: 10.0.0.1}
    cp2: {ansible_host: 192.0.2.2, ip: 10.0.0.2}
    cp3: {ansible_host: 192.0.2.3, ip: 10.0.0.3}
    w1: {ansible_host: 192.0.2.4, ip: 10.0.0.4}
  children:
    kube_control_plane: {hosts: {cp1: null, cp2: null, cp3: null}}
    etcd: {hosts: {cp1: null, cp2: null, cp3: null}}
    kube_node: {hosts: {w1: null}}
    k8s_cluster: {children: {kube_control_plane: null, kube_node: null}}
    calico_rr: {hosts: {}}
"""


def env() -> dict[str, str]:
    roles = [str(resources.data_dir("roles"))]
    result = {"PATH": f"{BIN}:{os.environ.get('PATH', '')}", "HOME": os.environ.get("HOME", "/")}
    if ENGINE_DIR:
        roles.append(f"{ENGINE_DIR}/roles")
        result["ANSIBLE_LIBRARY"] = f"{ENGINE_DIR}/library"
    result["ANSIBLE_ROLES_PATH"] = ":".join(roles)
    result["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    result["ANSIBLE_NOCOLOR"] = "1"
    return result


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inv") / "hosts.yaml"
    path.write_text(INVENTORY)
    return path


def playbook(
    name: str, inventory: Path, *args: str, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(resources.playbook(name))]
    if ENGINE_DIR:
        command += ["-e", f"k8s_install_engine_dir={ENGINE_DIR}"]
    return subprocess.run(
        [*command, *args], env=env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@needs_engine
@pytest.mark.engine
@pytest.mark.parametrize("name", LIFECYCLE + OWN)
def test_syntax_check_against_the_engine(name: str, inventory: Path) -> None:
    result = playbook(name, inventory, "--syntax-check", "-e", "node=w1")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_engine
@pytest.mark.engine
def test_without_the_engine_dir_the_error_names_it(inventory: Path) -> None:
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory), "--syntax-check"]
    result = subprocess.run(
        [*command, str(resources.playbook("up.yml"))],
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "k8s_install_engine_dir" in result.stdout + result.stderr


@needs_engine
@pytest.mark.engine
def test_ansible_lint_production_profile(tmp_path: Path) -> None:
    """Lint with the engine dir as an extra var, so ansible-lint can syntax-check imports."""
    root = resources.data_dir("playbooks").parent
    config = tmp_path / "ansible-lint.yml"
    config.write_text(
        "---\nprofile: production\nskip_list: []\noffline: true\n"
        f"exclude_paths:\n  - {ENGINE_DIR}/\n  - .ansible/\n"
        f"extra_vars:\n  k8s_install_engine_dir: {ENGINE_DIR}\n  node: w1\n"
    )
    files = [f"playbooks/{name}" for name in LIFECYCLE + OWN]
    files += ["roles/post_checks", "roles/node_drain"]
    result = subprocess.run(
        [str(BIN / "ansible-lint"), "-c", str(config), "--nocolor", *files],
        cwd=root,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The validation plays run first, on the controller: real runs against addresses that answer
# nothing (192.0.2.0/24), so any contact with a node would show up as unreachable.


def assert_no_node_contacted(result: subprocess.CompletedProcess[str]) -> None:
    recap = result.stdout.split("PLAY RECAP")[-1]
    assert "unreachable=1" not in recap, result.stdout
    assert "UNREACHABLE" not in result.stdout


@needs_engine
@pytest.mark.engine
def test_reset_without_confirmation_stops_before_any_node(inventory: Path) -> None:
    result = playbook("reset.yml", inventory)
    assert result.returncode != 0
    assert "k8s-install reset --yes" in result.stdout
    assert_no_node_contacted(result)


@needs_engine
@pytest.mark.engine
def test_scale_without_a_limit_to_workers_is_refused(inventory: Path) -> None:
    for args in ([], ["--limit", "cp2"]):
        result = playbook("scale.yml", inventory, *args)
        assert result.returncode != 0
        assert "scale adds worker nodes only" in result.stdout
        assert_no_node_contacted(result)


@needs_engine
@pytest.mark.engine
@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("cp1", "first control-plane or etcd node"),
        ("nosuch", "set `node` to one inventory host"),
    ],
)
def test_remove_node_refuses_before_touching_a_node(
    inventory: Path, node: str, message: str
) -> None:
    result = playbook("remove_node.yml", inventory, "-e", f"node={node}")
    assert result.returncode != 0
    assert message in result.stdout
    assert_no_node_contacted(result)


@needs_engine
@pytest.mark.engine
def test_remove_node_refuses_the_last_control_plane(tmp_path: Path) -> None:
    single = tmp_path / "hosts.yaml"
    single.write_text(
        INVENTORY.replace("cp1: null, cp2: null, cp3: null", "cp2: null").replace(
            "etcd: {hosts: {cp2: null}}", "etcd: {hosts: {cp2: null}}"
        )
    )
    result = playbook("remove_node.yml", single, "-e", "node=cp2")
    assert result.returncode != 0
    assert "last control-plane node" in result.stdout


def test_the_gate_stops_everything_after_one_failed_host(tmp_path: Path) -> None:
    """stop_on_failure.yml: one failed host (a failed snapshot) stops every host."""
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(
        "all:\n  hosts:\n"
        f"    a: {{ansible_connection: local, ansible_python_interpreter: {sys.executable}}}\n"
        f"    b: {{ansible_connection: local, ansible_python_interpreter: {sys.executable}}}\n"
    )
    gate = resources.playbook("stop_on_failure.yml")
    test = tmp_path / "test.yml"
    test.write_text(
        "---\n"
        "- name: Take a snapshot\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Fail on one host\n      ansible.builtin.fail:\n        msg: snapshot failed\n"
        "      when: inventory_hostname == 'a'\n"
        f"- name: Gate\n  ansible.builtin.import_playbook: {gate}\n"
        "- name: Restart\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Restart something\n      ansible.builtin.debug:\n        msg: RESTARTED\n"
    )
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(test)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "a failed earlier" in result.stdout
    assert "RESTARTED" not in result.stdout


@needs_engine
@pytest.mark.engine
def test_scale_preflights_the_new_nodes_before_changing_them(inventory: Path) -> None:
    result = playbook("scale.yml", inventory, "--limit", "w1", "--list-tasks", timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = result.stdout
    preflight = text.index("Probe swap, ports, time sync")
    gate = text.index("Assert that no host has failed so far")
    node_base = text.index("play #", gate)
    assert preflight < gate < node_base
    assert "Preflight checks on every node" in text[:node_base]
