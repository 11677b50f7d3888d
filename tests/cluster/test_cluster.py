"""A real Kubernetes 1.35.4 cluster, installed by `k8s-install up` from a bundle of our builds.

What the cluster reports about itself is printed, so the CI log shows it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from typing import Any

import pytest
import yaml

from k8s_install.addons import kubeapi

from .harness import LiveCluster, run_events

pytestmark = pytest.mark.cluster

VERSION = "v1.35.4"


def test_both_nodes_are_ready_at_the_built_version(live_cluster: LiveCluster) -> None:
    print(live_cluster.kubectl("version"))
    print(live_cluster.kubectl("get", "nodes", "-o", "wide"))
    nodes = json.loads(live_cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["cp1", "worker1"]
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == VERSION
    server = json.loads(live_cluster.kubectl("version", "-o", "json"))["serverVersion"]
    assert server["gitVersion"] == VERSION


def test_kube_system_pods_run(live_cluster: LiveCluster) -> None:
    pods = json.loads(live_cluster.kubectl("get", "pods", "-n", "kube-system", "-o", "json"))
    phases = {p["metadata"]["name"]: p["status"]["phase"] for p in pods["items"]}
    print(live_cluster.kubectl("get", "pods", "-A", "-o", "wide"))
    assert phases
    assert all(phase in ("Running", "Succeeded") for phase in phases.values()), phases
    names = " ".join(phases)
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"{component}-cp1" in names
    assert "coredns" in names and "kube-proxy" in names


def test_up_ran_the_smoke_check_across_nodes(live_cluster: LiveCluster) -> None:
    log = (live_cluster.log_dir / "up.log").read_text()
    for node in ("cp1", "worker1"):
        assert f"Assert that a replica on another node answered the client on {node}" in log
    assert "successful: up" in log


def test_up_gave_the_control_machine_a_kubeconfig_and_kept_its_key_out_of_records(
    live_cluster: LiveCluster,
) -> None:
    path = live_cluster.directory / ".k8s-install/kubeconfig/admin.conf"
    assert path.stat().st_mode & 0o777 == 0o600
    client = kubeapi.connect(path)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    assert (client.get(namespace, "") or {}).get("metadata", {}).get("name") == "kube-system"
    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    canary = str(user["client-key-data"])[20:80]  # a stretch of the base64 key
    key = base64.b64decode(user["client-key-data"]).decode().splitlines()[1]
    seen = [
        str(p)
        for p in (live_cluster.directory / ".k8s-install/artifacts").rglob("*")
        if p.is_file()
        and (canary in p.read_text(errors="replace") or key in p.read_text(errors="replace"))
    ]
    assert seen == [], "the kubeconfig's client key reached runner artifacts"
    history = subprocess.run(
        ["git", "log", "-p", "--all"], cwd=live_cluster.directory, capture_output=True, text=True
    ).stdout
    assert canary not in history and key not in history
    logs = " ".join(p.read_text(errors="replace") for p in live_cluster.log_dir.glob("*.log"))
    assert canary not in logs and key not in logs


def test_a_pod_reaches_the_other_node_by_service_name(live_cluster: LiveCluster) -> None:
    smoke = next(i for i in live_cluster.artifacts["images"] if "/smoke:" in str(i))  # type: ignore[attr-defined]
    ns = "smoke-test"
    live_cluster.kubectl("create", "namespace", ns)
    try:
        for node in ("cp1", "worker1"):
            live_cluster.kubectl(
                "run",
                f"web-{node}",
                "-n",
                ns,
                f"--image={smoke}",
                f"--labels=app=web,node={node}",
                f"--overrides={json.dumps(_pin(node))}",
            )
        live_cluster.kubectl(
            "expose",
            "pod",
            "web-worker1",
            "-n",
            ns,
            "--name=web",
            "--port=80",
            "--selector=node=worker1",
        )
        live_cluster.kubectl(
            "wait",
            "-n",
            ns,
            "--for=condition=Ready",
            "pod/web-cp1",
            "pod/web-worker1",
            "--timeout=180s",
            timeout=200,
        )
        # Ready pods are in the Service a moment later: kube-proxy refuses until it syncs.
        answer = ""
        for _ in range(20):
            answer = live_cluster.kubectl(
                "exec",
                "-n",
                ns,
                "web-cp1",
                "--",
                "/smoke",
                "get",
                "-n",
                "1",
                "-timeout",
                "10s",
                f"http://web.{ns}.svc.cluster.local/",
                timeout=60,
            )
            if answer.strip() == "web-worker1":
                break
            time.sleep(2)
        print(f"pod web-cp1 on cp1 asked http://web.{ns}.svc.cluster.local/ -> {answer.strip()}")
        assert answer.strip() == "web-worker1"
    finally:
        live_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _pin(node: str) -> dict[str, object]:
    return {
        "spec": {
            "nodeName": node,
            "tolerations": [{"operator": "Exists"}],
        }
    }


def test_second_up_has_nothing_to_do(live_cluster: LiveCluster) -> None:
    proc = live_cluster.cli("up", "--yes", log="up-again")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "no ansible run at all" in proc.stdout.lower(), proc.stdout[-2000:]


LABEL = "k8s-install.test/converged"
OUR_ROLES = {
    "preflight",
    "node_base",
    "bridge_network",
    "admin_kubeconfig",
    "addons",
    "post_checks",
}


def test_a_converge_changes_nothing_in_our_roles(live_cluster: LiveCluster) -> None:
    """A label change on an installed cluster: the plan is a converge, and it runs through
    preflight on ports this cluster itself holds; our own roles change nothing."""

    def label(data: dict[str, Any]) -> None:
        worker = next(n for n in data["nodes"] if n["name"] == "worker1")
        worker["labels"] = {LABEL: "yes"}

    live_cluster.edit(label, "Label worker1")
    started = time.monotonic()
    proc = live_cluster.cli("up", "--converge", "--yes", log="up-converge")
    live_cluster.timings["converge"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:]
    labels = json.loads(live_cluster.kubectl("get", "node", "worker1", "-o", "json"))
    assert labels["metadata"]["labels"].get(LABEL) == "yes"
    changed = []
    for event in run_events(proc.stdout):
        data = event.get("event_data", {})
        ok = event.get("event") == "runner_on_ok" and data.get("res", {}).get("changed")
        if ok and data.get("role") in OUR_ROLES:
            changed.append(f"{data.get('host')}: {data.get('role')}: {data.get('task')}")
    print(f"converge: {len(changed)} changed task(s) in our roles")
    assert changed == []
