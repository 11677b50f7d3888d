"""Adding one worker to the live sandbox cluster: `k8s-install up` (scale.yml --limit NEW)
against Kubespray's own scale.yml run without --limit, the way its docs show it, in one run.

Both runs add the same host to the same cluster through the same inventory, ansible.cfg and
variables; only the playbook and the limit differ. `k8s-install up` adds the node first, then
`k8s-install remove-node` removes it and the engine's scale.yml adds it again, unrecorded:
tear the sandbox down afterwards.
    K8S_INSTALL_TEST_KEEP_CLUSTER=1 pytest -m "cluster and not upgrade" tests/cluster
    python bench/bench_scale_live.py --dir /var/tmp/k8s-install-kc<pid> [--node worker2]
(or K8S_INSTALL_TEST_CLUSTER_DIR=<that repo> bash scripts/bench.sh scale_live)
The cluster must be a kept one of the cluster tests (worker2 started, not in cluster.yaml).
Writes bench/results/scale_live.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from k8s_install.ansible import runner
from k8s_install.commands.common import load_cluster
from k8s_install.engine import kubespray
from k8s_install.lifecycle import apply
from k8s_install.sandbox import hosts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent


def git(directory: Path, *args: str) -> None:
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@k8s-install.invalid"]
    subprocess.run(["git", *ident, *args], cwd=directory, check=True, capture_output=True)


def edit_nodes(directory: Path, node: dict[str, Any] | None, name: str, message: str) -> None:
    """Add `node` to cluster.yaml (or, with None, remove `name`) and commit it."""
    path = directory / "cluster.yaml"
    data = yaml.safe_load(path.read_text())
    data["nodes"] = [n for n in data["nodes"] if n["name"] != name]
    if node is not None:
        data["nodes"].append(node)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    git(directory, "commit", "-q", "-am", message)


def cli(directory: Path, *args: str) -> float:
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "k8s-install"), *args], cwd=directory, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"k8s-install {' '.join(args)} exited {proc.returncode}")
    return time.monotonic() - started


def engine_scale_unlimited(directory: Path, engine_dir: str) -> float:
    """The engine's scale.yml over every node: the request `up` would make, minus the limit."""
    cluster = load_cluster(directory / "cluster.yaml")
    the_plan = apply.make_plan(cluster)
    [action] = [a for a in the_plan.actions if a.kind == "scale"]
    found = kubespray.resolve(cluster.engine_release, cluster=cluster, engine_dir=Path(engine_dir))
    request = apply.request_for(cluster, action, found, command="bench")
    request.playbook = found.path / "scale.yml"
    request.limit = None
    started = time.monotonic()
    result = runner.run_playbook(request)
    if result.rc != 0:
        raise SystemExit(f"the engine's scale.yml failed ({result.status}): {result.artifacts}")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kept = os.environ.get("K8S_INSTALL_TEST_CLUSTER_DIR", "")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(kept) if kept else None,
        required=not kept,
        help="the kept cluster's repo (default: K8S_INSTALL_TEST_CLUSTER_DIR)",
    )
    parser.add_argument("--node", default="worker2", help="the spare host to add")
    parser.add_argument("--engine-dir", default="", help="default: K8S_INSTALL_KUBESPRAY_DIR")
    args = parser.parse_args()
    engine_dir = args.engine_dir or os.environ.get(kubespray.ENV_DIR, "")
    info = hosts.status(args.dir.name.removeprefix("k8s-install-"), args.dir)
    if info is None or not engine_dir:
        raise SystemExit("needs a kept cluster of the cluster tests and a Kubespray checkout")
    host = next(h for h in info.hosts if h.node == args.node)
    node = {"name": args.node, "address": host.address, "roles": list(host.roles)}

    edit_nodes(args.dir, node, args.node, f"bench: add {args.node}")
    figures = {"k8s_install_scale": cli(args.dir, "up", "--yes")}
    edit_nodes(args.dir, None, args.node, f"bench: remove {args.node}")
    figures["remove_node"] = cli(args.dir, "remove-node", args.node, "--yes")
    edit_nodes(args.dir, node, args.node, f"bench: add {args.node} again")
    figures["engine_scale_unlimited"] = engine_scale_unlimited(args.dir, engine_dir)
    figures["ratio_ours_over_engine"] = round(
        figures["k8s_install_scale"] / figures["engine_scale_unlimited"], 3
    )
    for name, value in figures.items():
        print(f"{name:>24}: {value:.3f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale_live.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
