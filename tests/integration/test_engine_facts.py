"""The engine's own code on sandbox hosts over SSH, up to the Kubernetes-binaries boundary.

The `facts` action (what `up`/`scale` run before a limited run when the fact cache is cold):
the engine's playbooks/facts.yml, found through k8s_install_engine_dir, with the engine's roles
and library from the generated ansible.cfg. It must leave each node's facts, including the
`main_ip` Kubespray caches for limited runs, in the cluster's jsonfile fact cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from k8s_install.ansible import runner
from k8s_install.engine import kubespray as engine
from k8s_install.lifecycle import apply, plan
from k8s_install.model import config

from .conftest import SandboxCluster

ENGINE_DIR = os.environ.get(engine.ENV_DIR)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.engine,
    pytest.mark.skipif(
        not ENGINE_DIR,
        reason=f"{engine.ENV_DIR} is not set: needs a Kubespray checkout "
        "(see docs/testing-boundary.md)",
    ),
]


def test_facts_action_fills_the_fact_cache_for_limited_runs(
    sandbox_cluster: SandboxCluster,
) -> None:
    assert ENGINE_DIR
    cluster = config.load(sandbox_cluster.cluster_file)
    found = engine.resolve(cluster.engine_release, engine_dir=Path(ENGINE_DIR))
    names = tuple(n.name for n in cluster.nodes)
    action = plan.Action("facts", "refresh facts", nodes=names, limit=names)
    request = apply.request_for(cluster, action, found, command="test-facts")
    assert request.limit == ",".join(names)
    assert "bootstrap_os" in request.skip_tags
    for stale in names:
        (apply.fact_dir(cluster) / stale).unlink(missing_ok=True)

    result = runner.run_playbook(request)

    assert result.status == "successful", result.failures[:3]
    assert apply.cached_facts(cluster) == set(names)
    for node in cluster.nodes:
        facts = json.loads((apply.fact_dir(cluster) / node.name).read_text())
        assert facts["main_ip"] == node.ip
        assert facts["ansible_memtotal_mb"] > 0  # the engine's hardware subset
    cfg = (request.private_dir / "runs" / result.run_id / "ansible.cfg").read_text()
    assert f"library = {found.library}" in cfg
    assert str(found.roles) in cfg
