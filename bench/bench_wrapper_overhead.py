"""Wrapper overhead: k8s-install's runner driver vs plain ansible-playbook, side by side.

A 50-task playbook against localhost, run alternately through both, N rounds; the ratio of
median wall times is the overhead (target: at most 1.05). Both use the same ansible.cfg.
A third arm runs bare ansible-runner, to split the overhead between ansible-runner itself
(its event callback and artifacts) and k8s-install's driver on top of it.

    python bench/bench_wrapper_overhead.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = 50


def write_fixture(directory: Path) -> tuple[Path, Path]:
    playbook = directory / "fifty.yml"
    tasks = "".join(
        f"    - name: Task {i}\n      ansible.builtin.command: 'true'\n      changed_when: false\n"
        for i in range(TASKS)
    )
    playbook.write_text(
        f"- name: Fifty tasks\n  hosts: all\n  gather_facts: false\n  tasks:\n{tasks}"
    )
    inventory = directory / "hosts.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    return playbook, inventory


WRAPPED = """
import sys
from pathlib import Path
from k8s_install.base.output import Output
from k8s_install.ansible.progress import execute
from k8s_install.ansible.runner import RunRequest
request = RunRequest(playbook=Path(sys.argv[1]), inventory=Path(sys.argv[2]),
                     private_dir=Path(sys.argv[3]), command="bench")
sys.exit(execute(request, Output(json_mode=True)).exit_code)
"""


BARE = """
import sys, tempfile
import ansible_runner
run = ansible_runner.run(private_data_dir=tempfile.mkdtemp(), playbook=sys.argv[1],
                         inventory=sys.argv[2], quiet=True, suppress_env_files=True)
sys.exit(run.rc)
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        playbook, inventory = write_fixture(directory)
        private = directory / ".k8s-install"
        wrapped = [sys.executable, "-c", WRAPPED, str(playbook), str(inventory), str(private)]
        timed(wrapped, dict(os.environ))  # warm caches; also writes the generated ansible.cfg
        cfg = next((private / "runs").glob("*/ansible.cfg"))
        plain_env = {**os.environ, "ANSIBLE_CONFIG": str(cfg)}
        plain = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            str(playbook),
        ]
        bare = [sys.executable, "-c", BARE, str(playbook), str(inventory)]
        bare_env = {**plain_env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        wrapper_times, plain_times, bare_times = [], [], []
        for _ in range(args.rounds):
            plain_times.append(timed(plain, plain_env))
            bare_times.append(timed(bare, bare_env))
            wrapper_times.append(timed(wrapped, dict(os.environ)))
    ratio = statistics.median(wrapper_times) / statistics.median(plain_times)
    bare_median = statistics.median(bare_times)
    print(
        json.dumps(
            {
                "benchmark": "wrapper_overhead",
                "tasks": TASKS,
                "rounds": args.rounds,
                "plain_median_s": round(statistics.median(plain_times), 3),
                "wrapper_median_s": round(statistics.median(wrapper_times), 3),
                "bare_runner_median_s": round(bare_median, 3),
                "ratio": round(ratio, 3),
                "bare_runner_vs_plain": round(bare_median / statistics.median(plain_times), 3),
                "wrapper_vs_bare_runner": round(statistics.median(wrapper_times) / bare_median, 3),
                "target": "<= 1.05",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
