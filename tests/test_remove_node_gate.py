"""remove_node.yml stops when the drain could not reach its host: an unreachable host leaves
a play without failing it, so the engine's removal would otherwise run next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from k8s_install.base import resources

ENGINE_STAND_IN = """\
- name: Engine stand-in that records it ran
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record the engine's removal ran
      ansible.builtin.copy:
        content: ran
        dest: "{{ marker }}"
        mode: "0644"
"""


def test_an_unreachable_drain_stops_the_removal_before_the_engine(tmp_path: Path) -> None:
    engine = tmp_path / "engine"
    (engine / "playbooks").mkdir(parents=True)
    (engine / "playbooks" / "remove_node.yml").write_text(ENGINE_STAND_IN)
    marker = tmp_path / "engine-ran"
    python = sys.executable
    # cp1 (where kubectl runs for the drain) refuses SSH: port 1 on loopback.
    (tmp_path / "hosts.yaml").write_text(
        "all:\n"
        "  hosts:\n"
        f"    localhost: {{ansible_connection: local, ansible_python_interpreter: {python}}}\n"
        "  children:\n"
        "    kube_control_plane:\n"
        "      hosts:\n"
        "        cp1: {ansible_host: 127.0.0.1, ansible_port: 1}\n"
        "    etcd:\n      hosts:\n        cp1:\n"
        "    kube_node:\n"
        "      hosts:\n"
        f"        worker9: {{ansible_connection: local, ansible_python_interpreter: {python}}}\n"
    )
    playbook = resources.playbook("remove_node.yml")
    cmd = [str(Path(python).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yaml")]
    cmd += [str(playbook), "-e", f"k8s_install_engine_dir={engine}", "-e", "node=worker9"]
    cmd += ["-e", f"marker={marker}"]
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"), "NO_COLOR": "1"}
    env["ANSIBLE_ROLES_PATH"] = str(resources.data_dir("roles"))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "UNREACHABLE" in out, out
    assert "failed earlier (the drain)" in out, out
    assert not marker.exists(), "the engine's removal ran after the drain could not"
