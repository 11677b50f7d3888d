"""A first install, 1 control plane + 1 worker from the offline bundle: `k8s-install up`
against a raw `ansible-playbook cluster.yml` of the engine, on fresh hosts each, alternated.

Both runs get new sandbox hosts, the same bundle of our own builds served from cp1, and the
same generated inventory and variables. The raw run is Kubespray as its docs show it:
`ansible-playbook -i INVENTORY --become cluster.yml` from the checkout, with its own
ansible.cfg and a fresh fact cache. Its hosts get the offline CA copied in beforehand, untimed
(Kubespray has no step for it), and it runs none of our plays: no preflight, node base, pod
network, addons or post-checks. `up` is timed whole and per phase, from its run's events.
    python bench/bench_up_raw.py [--rounds N] [--logs DIR]
Rounds alternate the order (ours first, then raw first, ...). Needs root, podman, Go and
K8S_INSTALL_KUBESPRAY_DIR; never beside another Kubernetes sandbox. About 15 minutes a round.
Writes bench/results/up_raw.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cluster import harness  # noqa: E402  (the tests' own cluster harness)
from k8s_install.ansible import offline_repo  # noqa: E402
from k8s_install.commands.common import load_cluster  # noqa: E402
from k8s_install.engine import kubespray  # noqa: E402
from k8s_install.lifecycle import apply  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TRUST_STORE = "/usr/local/share/ca-certificates"
PHASES = ("preflight", "node_base", "engine", "addons", "post_checks")
# Plays of our playbooks that start a phase; plays not named here stay in the current phase,
# except the engine's own, which follow node base.
PHASE_PLAYS = {
    "Preflight checks on every node": "preflight",
    "Prepare the nodes": "node_base",
    "Configure the pod network": "addons",
    "Prepare the addons and remove pruned releases": "addons",
    "Install or upgrade the addon releases, wave by wave": "addons",
    "Check the cluster works": "post_checks",
}


def _when(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(event["created"])).timestamp()


def phases(events: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per phase of an `up` run (events in run order), from play start to play start."""
    plays = [e for e in events if e.get("event") == "playbook_on_play_start"]
    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    if not plays or not stats:
        return {}
    found = {name: 0.0 for name in PHASES}
    current = "preflight"
    ends = [_when(p) for p in plays[1:]] + [_when(stats[-1])]
    for play, end in zip(plays, ends, strict=True):
        name = str(play.get("event_data", {}).get("play", ""))
        if name in PHASE_PLAYS:
            current = PHASE_PLAYS[name]
        elif current == "node_base":
            current = "engine"
        found[current] += end - _when(play)
    return {k: round(v, 1) for k, v in found.items()}


def ours(live: harness.LiveCluster) -> dict[str, Any]:
    started = time.monotonic()
    proc = live.cli("up", "--yes", "--engine-dir", harness.ENGINE_DIR, log="up")
    took = time.monotonic() - started
    harness.must(proc, "k8s-install up")
    events = harness.run_events(proc.stdout)
    (live.log_dir / "up-events.json").write_text(json.dumps(events))  # to compute phases again
    return {"wall": round(took, 1), "phases": phases(events)}


def trust_ca(live: harness.LiveCluster, registry: str, ca_file: Path) -> None:
    """What registry_trust's ca.yml does, by hand: the raw run's hosts trust the offline CA."""
    for host in live.info.hosts:
        if host.node not in {"cp1", "worker1"}:
            continue
        certs = f"/etc/containerd/certs.d/{registry}"
        live.on(host.node, "mkdir", "-p", certs)
        for dest in (f"{TRUST_STORE}/k8s-install-offline-ca.crt", f"{certs}/ca.crt"):
            subprocess.run(["podman", "cp", str(ca_file), f"{host.container}:{dest}"], check=True)
        live.on(host.node, "update-ca-certificates")


def raw(live: harness.LiveCluster) -> dict[str, Any]:
    cluster = load_cluster(live.cluster_file)
    [action] = [a for a in apply.make_plan(cluster).actions if a.kind == "install"]
    found = kubespray.resolve(
        cluster.engine_release, cluster=cluster, engine_dir=Path(harness.ENGINE_DIR)
    )
    request = apply.request_for(cluster, action, found, command="bench")  # writes the inventory
    ca_file = apply.offline_ca(cluster)
    if ca_file is None:
        raise SystemExit("the bundle server made no CA; was `bundle serve` run?")
    trust_ca(live, offline_repo.registry_host(cluster), ca_file)
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as scratch:
        variables = Path(scratch) / "extravars.json"
        variables.write_text(json.dumps(request.extravars))
        env = {
            "PATH": f"{harness.BIN}:{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", "/root"),
            "ANSIBLE_CONFIG": str(found.path / "ansible.cfg"),
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(Path(scratch) / "facts"),
            "ANSIBLE_NOCOLOR": "1",
        }
        cmd = [str(harness.BIN / "ansible-playbook"), "-i", str(request.inventory), "--become"]
        cmd += ["-e", f"@{variables}", str(found.path / "cluster.yml")]
        log = live.log_dir / "raw-cluster.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with log.open("w") as handle:
            proc = subprocess.run(
                cmd, cwd=found.path, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False
            )
        took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"raw cluster.yml exited {proc.returncode}; see {log}")
    return {"wall": round(took, 1)}


def check_nodes(live: harness.LiveCluster, version: str) -> None:
    """Both nodes registered at `version`: the install really happened."""
    out = live.kubectl("get", "nodes", "-o", "jsonpath={.items[*].status.nodeInfo.kubeletVersion}")
    found = out.split()
    if len(found) != 2 or any(v != version for v in found):
        raise SystemExit(f"expected 2 nodes at {version}, the cluster reports {found}")


def one(kind: str, index: int, logs: Path) -> dict[str, Any]:
    name = f"bu{os.getpid() % 10000}{index}{kind[0]}"
    with tempfile.TemporaryDirectory(prefix=f"bench-up-{kind}-") as scratch:
        directory = Path(scratch) / "cluster"
        with harness.prepare(name, directory, logs / f"{index}-{kind}", nodes=2) as live:
            figures = ours(live) if kind == "ours" else raw(live)
            print(f"round {index} {kind}: {json.dumps(figures)}", flush=True)
            check_nodes(live, "v" + str(live.artifacts["kubernetes_version"]).removeprefix("v"))
            for what in (("version",), ("get", "nodes", "-o", "wide")):
                print(f"$ kubectl {' '.join(what)}\n{live.kubectl(*what)}", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="pairs of runs (default 1)")
    parser.add_argument("--logs", type=Path, help="keep the logs here (default: a temp dir)")
    args = parser.parse_args()
    reason = harness.skip_reason()
    if reason:
        raise SystemExit(reason)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="bench-up-raw-"))
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "raw": []}
    for index in range(args.rounds):
        order = ("ours", "raw") if index % 2 == 0 else ("raw", "ours")
        for kind in order:
            runs[kind].append(one(kind, index, logs))
    mean = {k: sum(r["wall"] for r in v) / len(v) for k, v in runs.items()}
    figures: dict[str, Any] = {
        "rounds": args.rounds,
        "up_wall": round(mean["ours"], 1),
        "raw_cluster_yml_wall": round(mean["raw"], 1),
        "ratio_up_over_raw": round(mean["ours"] / mean["raw"], 3),
        "up_phases": {
            p: sum(r["phases"].get(p, 0.0) for r in runs["ours"]) / args.rounds for p in PHASES
        },
        "runs": runs,
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "runs"}, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "up_raw.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
