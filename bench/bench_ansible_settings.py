"""Each Ansible speed setting of the generated ansible.cfg against Ansible's defaults.

Runs the same workload on the same sandbox hosts (podman, real SSH) once per variant, side by
side in one run, and prints wall-time ratios against Ansible's defaults. Each variant has its
own fact cache and ControlPath directory. `cold` is its first run (empty fact cache, no SSH
master); `warm` is the median of the next --repeat runs, in rounds that interleave the variants,
which is what every run after the first sees.

The workload is several plays each gathering facts plus small tasks, like Kubespray's
playbooks (about 15 plays per run, most gathering facts or reading the cache).

Usage: python bench/bench_ansible_settings.py [--nodes 3] [--plays 3] [--tasks 5]
Needs root, podman, runc and the sandbox image (k8s-install sandbox image build).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from k8s_install.ansible import ansible_cfg as ansiblecfg
from k8s_install.ansible import runner
from k8s_install.model import config
from k8s_install.sandbox import hosts

VARIANTS: dict[str, dict[str, object]] = {
    "ansible defaults": dict(
        pipelining=False, control_persist=False, fact_cache=False, smart_gathering=False, forks=5
    ),
    "k8s-install (all on)": {},
    "  without pipelining": dict(pipelining=False),
    "  without ControlPersist": dict(control_persist=False),
    "  without fact cache": dict(fact_cache=False),
    "  without smart gathering": dict(smart_gathering=False),
}


def workload(path: Path, plays: int, tasks: int) -> Path:
    lines = ["---"]
    for play in range(plays):
        lines += [
            f"- name: Play {play}",
            "  hosts: all",
            "  gather_facts: true",
            "  tasks:",
        ]
        for task in range(tasks):
            lines += [
                f"    - name: Task {play}.{task}",
                "      ansible.builtin.command:",
                "        cmd: 'true'",
                "      changed_when: false",
            ]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(
    cluster: config.Cluster, playbook: Path, private: Path, settings: ansiblecfg.Settings
) -> float:
    request = runner.for_cluster(cluster, playbook, "bench", private_dir=private)
    request.settings = replace(settings, host_key_checking=request.settings.host_key_checking)
    started = time.monotonic()
    result = runner.run_playbook(request)
    seconds = time.monotonic() - started
    if result.status != "successful":
        raise SystemExit(f"the workload failed: {result.failures[:1]}")
    return seconds


def _exit_on_term(_signum: int, _frame: object) -> None:
    """A kill (a timeout) unwinds through `finally`, so the sandbox hosts still go."""
    raise SystemExit(143)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--plays", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per variant (median)")
    parser.add_argument("--name", default="bench-ans")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_term)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        info = hosts.up(args.name, directory, nodes=args.nodes, control_planes=1)
        try:
            cluster = config.load(Path(info.cluster_file))
            playbook = workload(directory / "workload.yml", args.plays, args.tasks)
            settings_of, private_of = {}, {}
            for index, (label, changes) in enumerate(VARIANTS.items()):
                control = f"/tmp/k8si-b{index}"
                Path(control).mkdir(mode=0o700, exist_ok=True)
                settings_of[label] = replace(
                    ansiblecfg.Settings(),
                    extra={"ssh_connection": {"control_path_dir": control}},
                    **changes,  # type: ignore[arg-type]
                )
                private_of[label] = directory / f"variant{index}"
            # Rounds interleave the variants, so a burst of load elsewhere hits all of them.
            cold = {v: run(cluster, playbook, private_of[v], settings_of[v]) for v in VARIANTS}
            warm: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for _round in range(args.repeat):
                for v in VARIANTS:
                    warm[v].append(run(cluster, playbook, private_of[v], settings_of[v]))
            rows = [(v, cold[v], statistics.median(warm[v])) for v in VARIANTS]
        finally:
            hosts.down(args.name, directory)
    base_cold, base_warm = rows[0][1], rows[0][2]
    print(
        f"{args.nodes} sandbox hosts over SSH; {args.plays} plays x (facts + {args.tasks} tasks); "
        f"warm = median of {args.repeat} interleaved rounds"
    )
    print(f"{'variant':<28}{'cold s':>8}{'warm s':>8}{'cold/def':>10}{'warm/def':>10}")
    for label, first, steady in rows:
        print(
            f"{label:<28}{first:>8.1f}{steady:>8.1f}"
            f"{first / base_cold:>10.2f}{steady / base_warm:>10.2f}"
        )
    print("forks: not varied here; with <= 5 nodes Ansible's default of 5 already covers them")


if __name__ == "__main__":
    main()
