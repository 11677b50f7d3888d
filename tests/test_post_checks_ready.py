"""roles/post_checks: every pod of kube-system and of the addon namespaces must be Ready.

The role runs for real through ansible-playbook on this machine; kubectl is a program that
prints what `kubectl get -o jsonpath=...` prints for the role's own jsonpath templates, so the
pods' states are ours to choose. The live cluster tests run the same role against a real API
server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from k8s_install.base import resources

BIN = Path(sys.executable).parent

READY = "kube-system|coredns-1|Running|True||  "
JOB_DONE = "metallb-system|patch-1|Succeeded|False||  Completed"
CRASHING = "monitoring|operator-1|Running|False||  CrashLoopBackOff "
PULLING = "kube-system|metrics-server-1|Pending|False|| ImagePullBackOff "
LEAVING = "kube-system|old-proxy|Running|False|2026-12-04T10:00:00Z|  "
ELSEWHERE = "shop|web-1|Running|False||  CrashLoopBackOff "


def run_checks(
    tmp_path: Path, pods: list[str], namespaces: list[str]
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pods.txt").write_text("".join(line + "\n" for line in pods))
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *' get nodes '*) printf 'n1 True\\n' ;;\n"
        f"  *' get pods '*) cat {tmp_path / 'pods.txt'} ;;\n"
        "  *) exit 9 ;;\n"
        "esac\n"
    )
    kubectl.chmod(0o755)
    (tmp_path / "admin.conf").write_text("")
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(
        "all:\n  hosts:\n"
        f"    n1: {{ansible_connection: local, ansible_python_interpreter: {sys.executable}}}\n"
        f"  vars: {{k8s_install_addon_namespaces: {namespaces}}}\n"
        "  children:\n    kube_control_plane: {hosts: {n1: null}}\n"
        "    k8s_cluster: {hosts: {n1: null}}\n"
    )
    play = tmp_path / "play.yml"
    play.write_text(
        "---\n- name: Check\n  hosts: k8s_cluster\n  gather_facts: false\n  roles:\n"
        "    - role: post_checks\n"
        f"      post_checks_kubectl: {kubectl}\n"
        f"      post_checks_kubeconfig: {tmp_path / 'admin.conf'}\n"
        "      post_checks_smoke: false\n"
        "      post_checks_retries: 2\n"
        "      post_checks_delay: 1\n"
    )
    env = {
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/"),
        "ANSIBLE_ROLES_PATH": str(resources.data_dir("roles")),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(play)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_ready_pods_completed_jobs_and_pods_being_deleted_pass(tmp_path: Path) -> None:
    result = run_checks(tmp_path, [READY, JOB_DONE, LEAVING, ELSEWHERE], ["metallb-system"])
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("pod", "namespaces", "named"),
    [
        (CRASHING, ["monitoring"], "monitoring/operator-1 (Running, Ready=False CrashLoopBackOff)"),
        (PULLING, [], "kube-system/metrics-server-1 (Pending, Ready=False ImagePullBackOff)"),
    ],
)
def test_a_running_pod_that_is_not_ready_fails_the_check_and_is_named(
    tmp_path: Path, pod: str, namespaces: list[str], named: str
) -> None:
    result = run_checks(tmp_path, [READY, pod], namespaces)
    assert result.returncode != 0
    assert "pods not Ready after 2s" in result.stdout
    assert named in result.stdout
    assert "coredns-1" not in result.stdout.split("pods not Ready", 1)[1]


def test_pods_of_namespaces_that_are_not_addons_are_not_judged(tmp_path: Path) -> None:
    result = run_checks(tmp_path, [READY, ELSEWHERE], ["monitoring"])
    assert result.returncode == 0, result.stdout[-3000:]
