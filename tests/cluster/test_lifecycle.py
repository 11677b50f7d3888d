"""Day 2 on the live cluster, one chain on the cluster test_cluster.py installed: the record in
the cluster, scale, a drain a PodDisruptionBudget blocks, remove-node, backup and restore, and
reset. Each step leaves the cluster working for the next; the wall times go to timings.json.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import SPARE
from .harness import LiveCluster, run_events

pytestmark = pytest.mark.cluster

NS = "lifecycle"


def _json(proc_stdout: str) -> dict[str, Any]:
    """The JSON document a --json command printed (or the last of the lines it streamed)."""
    try:
        return dict(json.loads(proc_stdout))
    except json.JSONDecodeError:
        line = [ln for ln in proc_stdout.splitlines() if ln.startswith("{")][-1]
        return dict(json.loads(line))


def _tasks_run(output: str) -> set[str]:
    """Names of the tasks that ran (ok or changed) in the run the command logged."""
    return {
        str(e["event_data"].get("task"))
        for e in run_events(output)
        if e.get("event") == "runner_on_ok"
    }


def _node(live: LiveCluster, name: str) -> dict[str, Any] | None:
    out = live.kubectl("get", "node", name, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


def _wait_ready(live: LiveCluster, timeout: float = 180) -> float:
    """Seconds until the API server reports ready (a converge may have restarted it)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if live.kubectl("get", "--raw", "/readyz", check=False, timeout=20).strip() == "ok":
            return time.monotonic() - started
        time.sleep(3)
    raise AssertionError(f"the API server was not ready within {timeout}s")


def test_status_reads_back_the_record_up_left_in_the_cluster(live_cluster: LiveCluster) -> None:
    print(f"API server ready after {_wait_ready(live_cluster):.0f}s")
    proc = live_cluster.cli("status", "--json", log="status")
    assert proc.returncode == 0, proc.stdout[-2000:]
    doc = _json(proc.stdout)
    record = doc["cluster_record"]
    print(f"status: in_sync={doc['in_sync']} cluster record: {record}")
    assert record["reachable"], record
    assert record["applied_digest"] == doc["git"]["applied_digest"] != ""
    assert record["run_id"] == doc["git"]["latest_run"]["run_id"]
    assert doc["disagreements"] == []

    # Another checkout applied since: the cluster's record no longer matches Git's.
    patch = json.dumps({"data": {"run-id": "run-from-another-checkout"}})
    live_cluster.kubectl(
        "patch", "configmap", "k8s-install-state", "-n", "kube-system", "-p", patch
    )
    try:
        proc = live_cluster.cli("status", "--json", log="status-disagree")
        doc = _json(proc.stdout)
        print(f"status after the record changed: {doc['disagreements']}")
        assert any("run-from-another-checkout" in d for d in doc["disagreements"]), doc
    finally:
        patch = json.dumps({"data": {"run-id": record["run_id"]}})
        live_cluster.kubectl(
            "patch", "configmap", "k8s-install-state", "-n", "kube-system", "-p", patch
        )


def test_scale_adds_a_worker_and_touches_only_it(live_cluster: LiveCluster) -> None:
    live_cluster.edit(lambda d: d["nodes"].append(live_cluster.spare), f"Add {SPARE}")
    plan = live_cluster.cli("plan", "--json", log="plan-scale")
    kinds = [a["kind"] for a in _json(plan.stdout)["actions"]]
    assert kinds == ["scale"], plan.stdout[-2000:]
    started = time.monotonic()
    proc = live_cluster.cli("up", "--yes", log="up-scale")
    live_cluster.timings["scale"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:]
    node = _node(live_cluster, SPARE)
    assert node is not None
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    hosts = {e["event_data"].get("host") for e in run_events(proc.stdout) if "event_data" in e}
    print(f"scale: {live_cluster.timings['scale']:.0f}s, event hosts {sorted(hosts - {None})}")
    assert hosts - {None} == {SPARE}
    live_cluster.kubectl("create", "namespace", NS)
    smoke = next(i for i in live_cluster.artifacts["images"] if "/smoke:" in str(i))  # type: ignore[attr-defined]
    overrides = {"spec": {"nodeName": SPARE}}
    live_cluster.kubectl(
        "run", "on-new-node", "-n", NS, f"--image={smoke}", f"--overrides={json.dumps(overrides)}"
    )
    live_cluster.kubectl(
        "wait", "-n", NS, "--for=condition=Ready", "pod/on-new-node", "--timeout=180s", timeout=200
    )


def _blocking_workload(smoke: str) -> str:
    """One replica on the spare node, and a PDB that allows no disruption."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "pinned", "namespace": NS},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": "pinned"}},
                        "template": {
                            "metadata": {"labels": {"app": "pinned"}},
                            "spec": {
                                "nodeSelector": {"kubernetes.io/hostname": SPARE},
                                "containers": [{"name": "web", "image": smoke}],
                            },
                        },
                    },
                },
                {
                    "apiVersion": "policy/v1",
                    "kind": "PodDisruptionBudget",
                    "metadata": {"name": "pinned", "namespace": NS},
                    "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "pinned"}}},
                },
            ],
        }
    )


def test_a_drain_a_pdb_blocks_stops_the_removal_and_uncordons(live_cluster: LiveCluster) -> None:
    smoke = next(i for i in live_cluster.artifacts["images"] if "/smoke:" in str(i))  # type: ignore[attr-defined]
    path = live_cluster.log_dir / "pinned.json"  # not in the repo: a dirty repo refuses runs
    path.write_text(_blocking_workload(smoke))
    live_cluster.kubectl(
        "delete", "pod", "on-new-node", "-n", NS, "--wait=false", "--ignore-not-found"
    )
    _apply(live_cluster, path)
    live_cluster.kubectl(
        "rollout", "status", "-n", NS, "deployment/pinned", "--timeout=180s", timeout=200
    )

    def without_spare(data: dict[str, Any]) -> None:
        data["nodes"] = [n for n in data["nodes"] if n["name"] != SPARE]

    live_cluster.edit(without_spare, f"Remove {SPARE}")
    proc = live_cluster.cli("remove-node", SPARE, "--yes", log="remove-blocked")
    print(f"blocked removal: exit {proc.returncode}")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "Uncordon the node after the failed drain" in _tasks_run(proc.stdout)
    node = _node(live_cluster, SPARE)
    assert node is not None, "the node was removed although its drain failed"
    assert not node["spec"].get("unschedulable"), "the node is still cordoned"


def _apply(live: LiveCluster, path: Path) -> None:
    """kubectl apply on cp1, where kubectl runs: the file goes into its filesystem first."""
    target = f"/root/{path.name}"
    subprocess.run(
        ["podman", "cp", str(path), f"{live.container('cp1')}:{target}"], check=True, timeout=60
    )
    live.kubectl("apply", "-f", target)


def test_remove_node_drains_deletes_and_drops_the_worker(live_cluster: LiveCluster) -> None:
    live_cluster.kubectl("delete", "pdb", "pinned", "-n", NS)
    started = time.monotonic()
    proc = live_cluster.cli("remove-node", SPARE, "--yes", log="remove")
    live_cluster.timings["remove_node"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert _node(live_cluster, SPARE) is None
    inventory = (live_cluster.directory / "inventory" / "hosts.yaml").read_text()
    assert SPARE not in inventory
    plan = live_cluster.cli("plan", "--json", log="plan-after-remove")
    assert _json(plan.stdout)["actions"] == [], plan.stdout[-2000:]
    # The pinned replica had nowhere else to go: pending, not lost with the node.
    pods = json.loads(
        live_cluster.kubectl("get", "pods", "-n", NS, "-l", "app=pinned", "-o", "json")
    )
    assert [p["status"]["phase"] for p in pods["items"]] == ["Pending"]
    live_cluster.kubectl("delete", "namespace", NS, "--wait=false")


def _apiserver_started(live: LiveCluster) -> str:
    out = live.on("cp1", "crictl", "ps", "--name", "kube-apiserver", "-o", "json")
    containers = json.loads(out)["containers"]
    assert containers, "no kube-apiserver container runs"
    return str(containers[0]["createdAt"])


def test_backup_then_restore_brings_back_a_deleted_configmap(live_cluster: LiveCluster) -> None:
    live_cluster.kubectl("create", "configmap", "canary", "-n", "default", "--from-literal=a=1")
    started = time.monotonic()
    proc = live_cluster.cli("backup", "--json", log="backup")
    live_cluster.timings["backup"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:]
    snapshot = _json(proc.stdout)["snapshot"]["local_path"]
    live_cluster.kubectl("delete", "configmap", "canary", "-n", "default")
    before = _apiserver_started(live_cluster)
    started = time.monotonic()
    proc = live_cluster.cli("restore", snapshot, "--yes", "--json", log="restore")
    live_cluster.timings["restore"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:]
    log = _json(proc.stdout)["run"]["artifacts"]
    assert "Wait until no API server listens any more" in _tasks_run(f"log: {log}")
    value = ""
    for _ in range(30):  # the API server is back; the first requests may still be refused
        value = live_cluster.kubectl(
            "get", "configmap", "canary", "-n", "default", "-o", "jsonpath={.data.a}", check=False
        )
        if value:
            break
        time.sleep(5)
    assert value == "1"
    assert _apiserver_started(live_cluster) != before, "the API server never restarted"


def test_reset_leaves_the_hosts_clean(live_cluster: LiveCluster) -> None:
    started = time.monotonic()
    proc = live_cluster.cli("reset", "--yes", log="reset")
    live_cluster.timings["reset"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:]
    for node in ("cp1", "worker1"):
        units = live_cluster.on(
            node, "systemctl", "is-active", "kubelet", "containerd", "etcd", check=False
        )
        leftovers = live_cluster.on(
            node,
            "sh",
            "-c",
            # /var/lib/containerd is a volume: it stays, empty.
            "find /etc/cni/net.d /var/lib/kubelet /etc/kubernetes /var/lib/containerd"
            " -mindepth 1 -maxdepth 1 2>/dev/null;"
            " pgrep -x kubelet; pgrep -x containerd; ip -o link show cni0 2>/dev/null;"
            " ls /etc/k8s-install/pod-routes 2>/dev/null; true",
        )
        print(f"{node} after reset: units {units.split()}, left: {leftovers.split()}")
        assert "active" not in units.split(), units
        assert leftovers.strip() == "", leftovers
    assert not (live_cluster.directory / "state" / "applied.yaml").exists()


def test_up_after_reset_installs_again(live_cluster: LiveCluster) -> None:
    started = time.monotonic()
    proc = live_cluster.cli("up", "--yes", log="up-after-reset")
    live_cluster.timings["up_after_reset"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:]
    nodes = json.loads(live_cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    versions = {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}
    print(f"after reset and up: {versions}")
    assert versions == {"cp1": "v1.35.4", "worker1": "v1.35.4"}
