"""`plan` on a 100-node cluster.yaml (target < 1 s) and a no-op `up` (target < 5 s, no Ansible).

Both are measured in one run as the user runs them: the installed `k8s-install` console script
in a fresh process (interpreter start and imports included), plus the plan logic alone
in-process. A no-op `up` must leave no run directory: the script checks that Ansible never ran.

Usage: python bench/bench_plan.py [--nodes 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from k8s_install.lifecycle import apply
from k8s_install.model import config
from k8s_install.records import applied_file as state

BIN = Path(sys.executable).parent


def cluster_file(directory: Path, nodes: int) -> Path:
    lines = [
        f"  - {{name: cp{i}, address: 10.1.0.{i}, roles: [control-plane, etcd]}}" for i in (1, 2, 3)
    ]
    lines += [
        f"  - {{name: w{i}, address: 10.1.{1 + i // 250}.{i % 250 + 1}, roles: [worker]}}"
        for i in range(nodes - 3)
    ]
    path = directory / "cluster.yaml"
    path.write_text(
        "name: bench\nkubernetes: {version: '1.35.4'}\n"
        "network: {pod_cidr: 10.200.0.0/14, node_prefix: 24}\nnodes:\n" + "\n".join(lines) + "\n"
    )
    return path


def timed(command: list[str], repeat: int) -> tuple[float, int]:
    times, code = [], 0
    for _ in range(repeat):
        started = time.monotonic()
        code = subprocess.run(command, capture_output=True, check=False).returncode
        times.append(time.monotonic() - started)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    k8s_install = str(BIN / "k8s-install")
    with tempfile.TemporaryDirectory() as tmp:
        path = cluster_file(Path(tmp), args.nodes)
        cluster = config.load(path)
        started = time.monotonic()
        first = apply.make_plan(cluster)
        logic_first = time.monotonic() - started
        state.write_applied(cluster)
        # One more worker, so the plan has a scale action to compute.
        path.write_text(
            path.read_text() + "  - {name: extra, address: 10.9.0.1, roles: [worker]}\n"
        )
        scaled = config.load(path)
        started = time.monotonic()
        planned = apply.make_plan(scaled)
        logic = time.monotonic() - started
        plan_s, plan_code = timed([k8s_install, "plan", "-c", str(path)], args.repeat)
        path.write_text(
            path.read_text().replace("  - {name: extra, address: 10.9.0.1, roles: [worker]}\n", "")
        )
        up_s, up_code = timed([k8s_install, "up", "-c", str(path)], args.repeat)
        ran = (Path(tmp) / ".k8s-install" / "runs").exists()
    print(f"{args.nodes}-node cluster.yaml, median of {args.repeat} runs")
    print(f"  plan logic in-process (first install): {logic_first * 1000:.1f} ms")
    print(f"  plan logic in-process (add one node):  {logic * 1000:.1f} ms -> {planned.kinds()}")
    assert first.kinds() == ["install"] and planned.kinds()[-1] == "scale"
    print(
        f"  `k8s-install plan` process: {plan_s:.2f} s (exit {plan_code}); "
        f"{plan_s / 1.0:.0%} of the 1 s target"
    )
    print(
        f"  no-op `k8s-install up` process: {up_s:.2f} s (exit {up_code}); "
        f"{up_s / 5.0:.0%} of the 5 s target; Ansible ran: {'YES' if ran else 'no'}"
    )


if __name__ == "__main__":
    main()
