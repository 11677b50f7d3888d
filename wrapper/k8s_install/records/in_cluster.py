"""The cluster's own copy of the record: the k8s-install-state ConfigMap in kube-system.

Written at the end of up/scale/upgrade from the first control plane (kubectl with the admin
kubeconfig Kubespray leaves there), so losing the operator machine and its clone loses nothing.
`status` reads it back, through a kubeconfig when given one, else over SSH like every run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k8s_install import __version__
from k8s_install.ansible import actions, runner
from k8s_install.model.config import Cluster
from k8s_install.records import applied_file, runs

NAME = "k8s-install-state"
NAMESPACE = "kube-system"
EXTRAVAR = "k8s_install_state_configmap"
MAX_BYTES = 1024 * 1024  # the API server's limit for one object
KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
ENV_KUBECONFIG = "K8S_INSTALL_KUBECONFIG"
LOCAL_KUBECONFIG = Path(".k8s-install") / "kubeconfig" / "admin.conf"


def configmap(cluster: Cluster, record: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap object for the run `record` (a dict from runs.build / runs.find)."""
    applied = applied_file.applied_spec(cluster.root)
    versions = record.get("versions") or {}
    data = {
        "cluster": cluster.name,
        "applied-digest": applied_file.digest(applied) if applied is not None else "",
        "engine-release": str(versions.get("engine") or cluster.engine_release),
        "bundle-version": str(versions.get("bundle") or ""),
        "k8s-install-version": str(versions.get("k8s_install") or __version__),
        "run-id": str(record["run_id"]),
        "result": str(record.get("result", "")),
        "updated": str(record.get("ended", "")),
        "config-commit": str((record.get("cluster") or {}).get("config_commit", "")),
        "record.yaml": yaml.safe_dump(record, sort_keys=False, width=100),
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {
                "app.kubernetes.io/managed-by": "k8s-install",
                "app.kubernetes.io/name": NAME,
            },
        },
        "data": data,
    }


def problems(obj: dict[str, Any]) -> list[str]:
    """What the API server would reject in a ConfigMap (kept small: keys, strings, size)."""
    found = []
    for key, value in (obj.get("data") or {}).items():
        if not KEY.match(key) or len(key) > 253:
            found.append(f"data key {key!r} is not a valid ConfigMap key")
        if not isinstance(value, str):
            found.append(f"data[{key!r}] must be a string")
    if len(json.dumps(obj).encode()) > MAX_BYTES:
        found.append("the ConfigMap is larger than 1 MiB")
    return found


def publish(cluster: Cluster, record: dict[str, Any]) -> tuple[bool, str]:
    """Write the ConfigMap from the first control plane. Never raises: returns (ok, message)."""
    if not cluster.control_planes:
        return False, "no control-plane node to write the cluster record from"
    obj = configmap(cluster, record)
    request = actions.request(
        cluster,
        "publish_record",
        "record",
        limit=cluster.control_planes[0].name,
        extravars={EXTRAVAR: obj},
    )
    result = runner.run_playbook(request)
    if result.status == "successful":
        return True, f"recorded run {record['run_id']} in {NAMESPACE}/{NAME}"
    why = result.failures[0]["message"] if result.failures else result.status
    return False, f"could not write {NAMESPACE}/{NAME}: {why} (log: {result.artifacts})"


def publish_latest(cluster: Cluster) -> tuple[bool, str]:
    """Publish the newest run record in the repo: what `up`, `scale` and `upgrade` call last."""
    records = runs.all_records(cluster.root)
    if not records:
        return False, "no run record to publish"
    return publish(cluster, records[0])


@dataclass
class ClusterRecord:
    """What the cluster says. `reachable` False means we could not ask it (see `message`)."""

    reachable: bool
    message: str
    data: dict[str, str] | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "message": self.message,
            "run_id": (self.data or {}).get("run-id", ""),
            "applied_digest": (self.data or {}).get("applied-digest", ""),
            "engine_release": (self.data or {}).get("engine-release", ""),
            "bundle_version": (self.data or {}).get("bundle-version", ""),
            "result": (self.data or {}).get("result", ""),
            "updated": (self.data or {}).get("updated", ""),
        }


def _parse(stdout: str, source: str) -> ClusterRecord:
    try:
        obj = json.loads(stdout)
    except json.JSONDecodeError:
        return ClusterRecord(True, f"{source} returned something that is not JSON")
    data = {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
    try:
        parsed = yaml.safe_load(data.get("record.yaml", "")) or {}
    except yaml.YAMLError:
        parsed = {}
    return ClusterRecord(
        True,
        f"read {NAMESPACE}/{NAME} via {source}",
        data,
        parsed if isinstance(parsed, dict) else {},
    )


def _not_found(text: str) -> bool:
    return "NotFound" in text or "not found" in text


def read_with_kubeconfig(kubeconfig: Path, timeout: int = 10) -> ClusterRecord:
    """Ask the API server directly with the local kubectl and kubeconfig."""
    argv = [
        "kubectl",
        "--kubeconfig",
        str(kubeconfig),
        f"--request-timeout={timeout}s",
        "-n",
        NAMESPACE,
        "get",
        "configmap",
        NAME,
        "-o",
        "json",
    ]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout + 5,
            check=False,
        )
    except FileNotFoundError:
        return ClusterRecord(
            False, "kubectl is not installed here; pass no --kubeconfig to use SSH"
        )
    except subprocess.TimeoutExpired:
        return ClusterRecord(False, f"the API server did not answer within {timeout}s")
    if done.returncode == 0:
        return _parse(done.stdout, f"kubeconfig {kubeconfig}")
    error = (done.stderr.strip().splitlines() or ["no output"])[-1]
    if _not_found(error) and "configmaps" in error:
        return ClusterRecord(True, f"the cluster has no {NAMESPACE}/{NAME} ConfigMap yet")
    return ClusterRecord(False, f"cluster unreachable with {kubeconfig}: {error}")


def read_over_ssh(cluster: Cluster) -> ClusterRecord:
    """Ask kubectl on the first control plane, over the same SSH a run uses."""
    if not cluster.control_planes:
        return ClusterRecord(False, "cluster.yaml has no control-plane node to ask")
    host = cluster.control_planes[0].name
    request = actions.request(cluster, "read_record", "status", limit=host)
    result = runner.run_playbook(request)
    if result.status == "unreachable":
        return ClusterRecord(False, f"{host} is unreachable over SSH")
    res = _task_result(result.artifacts, "Read the k8s-install-state ConfigMap")
    if res is None:
        why = result.failures[0]["message"] if result.failures else result.status
        return ClusterRecord(False, f"could not ask {host}: {why}")
    if res.get("rc") == 0:
        return _parse(str(res.get("stdout", "")), f"kubectl on {host}")
    error = (str(res.get("stderr") or res.get("msg") or "").strip().splitlines() or [""])[-1]
    if res.get("rc") in (2, 127) or "No such file" in error:
        return ClusterRecord(
            False, f"no kubectl or admin kubeconfig on {host}: Kubernetes is not installed there"
        )
    if _not_found(error) and "configmaps" in error:
        return ClusterRecord(True, f"the cluster has no {NAMESPACE}/{NAME} ConfigMap yet")
    return ClusterRecord(False, f"the API server did not answer on {host}: {error}")


def _task_result(artifacts: Path, task: str) -> dict[str, Any] | None:
    directory = artifacts / "job_events"
    if not directory.is_dir():
        return None
    for path in directory.glob("*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        if event.get("event") in ("runner_on_ok", "runner_on_failed") and str(
            data.get("task", "")
        ).endswith(task):
            res = data.get("res")
            return res if isinstance(res, dict) else None
    return None


def find_kubeconfig(root: Path, given: Path | None = None) -> Path | None:
    """--kubeconfig, else K8S_INSTALL_KUBECONFIG, else .k8s-install/kubeconfig/admin.conf.

    The same order as the addons commands; never the generic KUBECONFIG, which may point at
    another cluster.
    """
    for candidate in (given, os.environ.get(ENV_KUBECONFIG), root / LOCAL_KUBECONFIG):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def read(cluster: Cluster, kubeconfig: Path | None = None) -> ClusterRecord:
    """Through a kubeconfig when there is one, else kubectl on the first control plane."""
    found = find_kubeconfig(cluster.root, kubeconfig)
    return read_with_kubeconfig(found) if found else read_over_ssh(cluster)


def compare(git_record: dict[str, Any] | None, cluster_record: ClusterRecord) -> list[str]:
    """Where Git and the cluster disagree (empty when they agree or the cluster was not read)."""
    if not cluster_record.reachable:
        return []
    data = cluster_record.data
    if data is None:
        return ["the cluster holds no record yet"] if git_record else []
    if git_record is None:
        return [f"the cluster records run {data.get('run-id')}, Git has no run records"]
    differences = []
    if data.get("run-id") != git_record.get("run_id"):
        differences.append(
            f"latest run: Git says {git_record.get('run_id')}, the cluster says {data.get('run-id')}"
        )
    applied = git_record.get("applied_digest")
    if applied is not None and data.get("applied-digest", "") != applied:
        differences.append(
            f"applied cluster.yaml digest: Git {str(applied)[:12] or '(none)'}, "
            f"cluster {data.get('applied-digest', '')[:12] or '(none)'}"
        )
    return differences
