"""The live cluster's lifecycle, timed in one run: install, converge, scale, remove-node,
backup, restore and reset, on the same sandbox hosts, with the ratios between them.

Runs the cluster test chain (tests/cluster, the `cluster` marker), which records each step's
wall time in timings.json, and prints the figures. The ratio that matters: adding one worker
against a full converge of the same cluster (target: at most 0.25).
    python bench/bench_cluster.py [--logs DIR]
Needs root, podman, Go and K8S_INSTALL_KUBESPRAY_DIR. Writes bench/results/cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STEPS = ("artifacts", "sandbox", "bundle", "serve", "up", "converge", "scale", "remove_node")
STEPS += ("backup", "restore", "reset", "up_after_reset")


def run_chain(logs: Path) -> int:
    env = {**os.environ, "K8S_INSTALL_CLUSTER_LOGS": str(logs)}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "cluster and not upgrade",
        "tests/cluster",
        "-q",
        "-x",
    ]
    cmd += ["-p", "no:cacheprovider"]
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


def report(timings: dict[str, float]) -> dict[str, object]:
    figures: dict[str, object] = {k: round(timings[k], 1) for k in STEPS if k in timings}
    if "scale" in timings and "converge" in timings:
        figures["scale_over_converge"] = round(timings["scale"] / timings["converge"], 3)
    if "converge" in timings and "up" in timings:
        figures["converge_over_install"] = round(timings["converge"] / timings["up"], 3)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=Path, help="keep the logs here (default: a temp dir)")
    args = parser.parse_args()
    logs = args.logs or Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    code = run_chain(logs)
    path = logs / "timings.json"
    if not path.is_file():
        print(f"no timings written (tests exited {code}); logs in {logs}", file=sys.stderr)
        return 1
    figures = report(json.loads(path.read_text()))
    figures["tests_exit_code"] = code
    for name, value in figures.items():
        print(f"{name:>24}: {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cluster.json").write_text(json.dumps(figures, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
