"""Upgrade 1.34.4 -> 1.35.4 on a live 1+1 cluster, offline, while a smoke Service is polled.

A cluster of the 1.34 release set (scripts/artifacts/build.py --set 1.34) is installed; a
second bundle of the 1.35 set is built and served; cluster.yaml moves to 1.35.4; `up` plans
and runs the upgrade. The poller asks the smoke Service from worker1 every second, so the
test prints how long it did not answer. Marker `upgrade` (`make test-upgrade`): the chain
needs its own cluster and about 35 minutes, so `make test` does not run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import (
    KEEP_ENV,
    LiveCluster,
    build_artifacts,
    git,
    install,
    logs_for,
    make_bundle,
    must,
    pin_builds,
    skip_reason,
)

pytestmark = [pytest.mark.cluster, pytest.mark.upgrade]

OLD, NEW = "v1.34.4", "v1.35.4"
NS = "upgrade"


@pytest.fixture(scope="module")
def old_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    name = f"ku{os.getpid()}"
    keep = bool(os.environ.get(KEEP_ENV))
    directory = Path(f"/var/tmp/k8s-install-{name}") if keep else tmp_path_factory.mktemp("up")
    log_dir = logs_for(directory)
    with install(name, directory, log_dir, release="1.34", nodes=2) as live:
        yield live


def _versions(live: LiveCluster) -> dict[str, str]:
    nodes = json.loads(live.kubectl("get", "nodes", "-o", "json"))["items"]
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}


class Poller:
    """Requests the Service from a node every second; records (time, answered)."""

    def __init__(self, live: LiveCluster, url: str) -> None:
        self.live, self.url = live, url
        self.samples: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        cmd = ["podman", "exec", self.live.container("worker1"), "curl", "-sf", "-m", "2"]
        while not self._stop.is_set():
            started = time.monotonic()
            proc = subprocess.run([*cmd, self.url], capture_output=True, timeout=30, check=False)
            self.samples.append((started, proc.returncode == 0))
            self._stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def longest_gap(self) -> float:
        """Seconds of the longest run of unanswered requests."""
        longest, since = 0.0, None
        for at, ok in self.samples:
            if not ok and since is None:
                since = at
            elif ok and since is not None:
                longest, since = max(longest, at - since), None
        if since is not None:
            longest = max(longest, self.samples[-1][0] - since)
        return longest


def _smoke(live: LiveCluster) -> str:
    """Two replicas, one per node, behind a ClusterIP; returns its URL."""
    smoke = next(i for i in live.artifacts["images"] if "/smoke:" in str(i))  # type: ignore[attr-defined]
    live.kubectl("create", "namespace", NS)
    live.kubectl("create", "deployment", "web", "-n", NS, f"--image={smoke}", "--replicas=2")
    spread = {
        "spec": {
            "template": {
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": {"app": "web"}},
                        }
                    ],
                }
            }
        }
    }
    live.kubectl("patch", "deployment", "web", "-n", NS, "-p", json.dumps(spread))
    live.kubectl("expose", "deployment", "web", "-n", NS, "--port=80")
    live.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=180s", timeout=200)
    address = live.kubectl("get", "service", "web", "-n", NS, "-o", "jsonpath={.spec.clusterIP}")
    return f"http://{address}/"


def _next_config(live: LiveCluster, artifacts: dict[str, object]) -> Path:
    """cluster.yaml at the new versions with offline off: its bundle plan names upstream URLs."""
    data = yaml.safe_load(live.cluster_file.read_text())
    data.pop("offline", None)
    path = live.directory / "cluster-next.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    pin_builds(path, artifacts)
    return path


def test_upgrade_to_the_next_minor_offline(old_cluster: LiveCluster) -> None:
    live = old_cluster
    assert set(_versions(live).values()) == {OLD}
    url = _smoke(live)
    new = build_artifacts(live.log_dir)
    started = time.monotonic()
    make_bundle(live, new, "bundle-next", _next_config(live, new))

    def to_new(data: dict[str, Any]) -> None:
        data["offline"]["bundle"] = "bundle-next"

    pin_builds(live.cluster_file, new)
    live.edit(to_new, f"Upgrade to {NEW}")
    must(live.cli("bundle", "serve", log="bundle-serve-next"), "bundle serve")
    live.timings["bundle_next"] = time.monotonic() - started

    plan = live.cli("plan", log="plan-upgrade")
    assert "Upgrade Kubernetes 1.34.4 to 1.35.4" in plan.stdout, plan.stdout[-2000:]
    started = time.monotonic()
    with Poller(live, url) as poller:
        proc = live.cli("up", "--yes", log="up-upgrade")
    live.timings["upgrade"] = time.monotonic() - started
    failed = sum(1 for _at, ok in poller.samples if not ok)
    gap = poller.longest_gap()
    live.timings["upgrade_longest_gap"] = gap
    print(
        f"upgrade: {live.timings['upgrade']:.0f}s; smoke Service: {len(poller.samples)} requests,"
        f" {failed} unanswered, longest gap {gap:.1f}s"
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    print(live.kubectl("get", "nodes", "-o", "wide"))
    assert set(_versions(live).values()) == {NEW}
    snapshots = sorted((live.directory / "backups").glob("*.db"))
    assert snapshots, "no pre-upgrade snapshot reached the control machine"
    answer = subprocess.run(
        ["podman", "exec", live.container("worker1"), "curl", "-sf", "-m", "5", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert answer.returncode == 0 and answer.stdout.startswith("web-"), answer


def test_a_skip_of_two_minors_is_refused_before_any_host(old_cluster: LiveCluster) -> None:
    runs = sorted((old_cluster.directory / "runs").glob("*"))

    def skip(data: dict[str, Any]) -> None:
        data["kubernetes"]["version"] = "1.37.0"

    old_cluster.edit(skip, "Try to skip a minor")
    try:
        proc = old_cluster.cli("up", "--yes", log="up-skip")
        assert proc.returncode == 2, proc.stdout[-2000:]
        assert "skips a minor version" in proc.stdout
        assert sorted((old_cluster.directory / "runs").glob("*")) == runs
    finally:
        git(old_cluster.directory, "revert", "--no-edit", "HEAD")
