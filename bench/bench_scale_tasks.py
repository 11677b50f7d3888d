"""Tasks for adding one worker (scale.yml --limit NEW) against a full converge (up.yml), same engine.

No Kubernetes binaries can be downloaded here, so a real engine run stops at its download role.
This counts instead what each run would execute, side by side in one run:
`ansible-playbook --list-tasks` gives each play's tasks and `--list-hosts` its hosts after the
limit; executions = sum over plays of tasks x hosts. Both sides undercount the same way: tasks
inside dynamic include_tasks/include_role are not listed by Ansible. Wall time of the listing
is printed for both, but it is parse time, not a cluster run.

Usage: K8S_INSTALL_KUBESPRAY_DIR=/tmp/kubespray-v2.31.0 python bench/bench_scale_tasks.py [--workers N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from k8s_install.ansible import inventory
from k8s_install.base import resources
from k8s_install.model import config

BIN = Path(sys.executable).parent
PLAY = re.compile(r"^  play #(\d+) \(([^)]*)\): (.*?)\tTAGS")


def cluster_file(directory: Path, workers: int) -> Path:
    nodes = [
        f"  - {{name: cp{i}, address: 10.1.0.{i}, roles: [control-plane, etcd]}}" for i in (1, 2, 3)
    ]
    nodes += [
        f"  - {{name: w{i}, address: 10.1.1.{i}, roles: [worker]}}" for i in range(1, workers + 2)
    ]
    path = directory / "cluster.yaml"
    path.write_text(
        "name: bench\nkubernetes: {version: '1.35.4'}\naccess: {host_key_checking: false}\nnodes:\n"
        + "\n".join(nodes)
        + "\n"
    )
    return path


def listing(engine: Path, inv: Path, playbook: str, flag: str, limit: str | None) -> str:
    env = {
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/"),
        "ANSIBLE_ROLES_PATH": f"{resources.data_dir('roles')}:{engine}/roles",
        "ANSIBLE_LIBRARY": f"{engine}/library",
    }
    command = [
        str(BIN / "ansible-playbook"),
        flag,
        "-i",
        str(inv),
        "-e",
        f"k8s_install_engine_dir={engine}",
        str(resources.playbook(playbook)),
    ]
    if limit:
        command += ["--limit", limit]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return result.stdout


def plays(text: str, section: str) -> dict[int, list[str]]:
    """play number -> its task names (section 'tasks') or host names (section 'hosts')."""
    found: dict[int, list[str]] = {}
    current = None
    inside = False
    for line in text.splitlines():
        match = PLAY.match(line)
        if match:
            current = int(match.group(1))
            found[current] = []
            inside = False
        elif current is not None and line.strip().startswith(section):
            inside = True
        elif current is not None and inside and line.startswith("      ") and line.strip():
            found[current].append(line.strip().split("\t")[0])
    return found


def count(engine: Path, inv: Path, playbook: str, limit: str | None) -> tuple[int, int, float]:
    started = time.monotonic()
    tasks = plays(listing(engine, inv, playbook, "--list-tasks", limit), "tasks:")
    hosts = plays(listing(engine, inv, playbook, "--list-hosts", limit), "hosts (")
    seconds = time.monotonic() - started
    executions = sum(len(tasks[n]) * len(hosts.get(n, [])) for n in tasks)
    return executions, sum(len(t) for t in tasks.values()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="workers already in the cluster")
    args = parser.parse_args()
    engine = Path(os.environ.get("K8S_INSTALL_KUBESPRAY_DIR", ""))
    if not (engine / "cluster.yml").is_file():
        sys.exit("set K8S_INSTALL_KUBESPRAY_DIR to a Kubespray v2.31.0 checkout")
    with tempfile.TemporaryDirectory() as tmp:
        cluster = config.load(cluster_file(Path(tmp), args.workers))
        inv = Path(tmp) / "inventory"
        inventory.write(cluster, inv)
        new = f"w{args.workers + 1}"
        full = count(engine, inv, "up.yml", None)
        scale = count(engine, inv, "scale.yml", new)
        others = ",".join(n.name for n in cluster.nodes if n.name != new)
        facts = count(engine, inv, "facts.yml", others)
    nodes = len(cluster.nodes)
    print(f"cluster: 3 control-plane/etcd + {args.workers} workers, adding {new} ({nodes} nodes)")
    print(f"{'run':<32}{'task executions':>16}{'listed tasks':>14}{'listing s':>11}")
    print(f"{'full converge: up.yml':<32}{full[0]:>16}{full[1]:>14}{full[2]:>11.1f}")
    print(f"{'add one node: scale.yml --limit':<32}{scale[0]:>16}{scale[1]:>14}{scale[2]:>11.1f}")
    print(f"{'cold fact cache: facts.yml':<32}{facts[0]:>16}{facts[1]:>14}{facts[2]:>11.1f}")
    print(f"ratio scale/full task executions: {scale[0] / full[0]:.1%} (target <= 25%)")
    cold = (scale[0] + facts[0]) / full[0]
    print(f"ratio with a cold fact cache (facts over the other nodes first): {cold:.1%}")


if __name__ == "__main__":
    main()
