"""The cluster tests' one cluster: `live_cluster`, installed once per session by harness.install
on cp1 (control plane, etcd; it also serves the bundle) and worker1, with worker2 started
but kept out of cluster.yaml for the lifecycle tests to add. Tests skip, with the reason,
only when no Kubespray checkout is given (or without root and podman).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import KEEP_ENV, REUSE_ENV, LiveCluster, attach, install, logs_for, skip_reason

NAME = f"kc{os.getpid()}"
SPARE = "worker2"  # a host that joins and leaves in the lifecycle tests


@pytest.fixture(scope="session")
def live_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    reuse = os.environ.get(REUSE_ENV, "")
    if reuse:
        directory = Path(reuse)
        log_dir = logs_for(directory)
        yield attach(directory.name.removeprefix("k8s-install-"), directory, log_dir, spare=SPARE)
        return
    # A kept cluster keeps its repo too (pytest rotates its temporary directories).
    keep = bool(os.environ.get(KEEP_ENV))
    directory = Path(f"/var/tmp/k8s-install-{NAME}") if keep else tmp_path_factory.mktemp("cluster")
    log_dir = logs_for(directory)
    with install(NAME, directory, log_dir, nodes=3, spare=SPARE) as live:
        yield live
