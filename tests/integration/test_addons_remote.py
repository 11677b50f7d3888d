"""`addons apply` in its default mode, against a sandbox host over SSH: the role copies the pinned
helm, the chart archives and the values to the first control-plane node, and runs helm there.

The sandbox has no Kubernetes: the fixture writes an admin.conf naming a server that is not
there, so the role finds its kubeconfig and helm fails on the node; the test checks everything up to that boundary: what was copied, with which modes,
and that the install of the first wave was delegated to cp1 and the second wave never ran.
Hosts have no internet and the test image has no python3-yaml (kubernetes.core.helm needs
PyYAML on the node), so the fixture copies PyYAML's pure Python package onto cp1 first.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.cli import cli

from .conftest import SandboxCluster

pytestmark = pytest.mark.integration

CHARTS = Path(__file__).parent.parent / "fixtures" / "charts"
REMOTE = ("/var/lib/k8s-install", "/usr/local/bin/k8s-install-helm", "/etc/kubernetes")
# An admin kubeconfig for a cluster that is not there: the role finds it, helm cannot connect.
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@pytest.fixture(scope="module")
def repo(
    sandbox_cluster: SandboxCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("addons-remote")
    path = sandbox_cluster.copy_to(directory)
    data = yaml.safe_load(path.read_text())
    data["addons"] = {
        "globals": {"registry": "mirror.example:5000"},
        "releases": [
            {
                "name": "web",
                "chart": "./charts/web",
                "namespace": "apps",
                "values": {"image": {"registry": "${globals.registry}"}},
            },
            {"name": "stack", "chart": "./charts/stack", "depends_on": ["web"]},
        ],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copytree(CHARTS, directory / "charts")
    cp1 = sandbox_cluster.host("cp1")
    cp1.exec("mkdir", "-p", "/etc/kubernetes")
    cp1.exec("sh", "-c", f"cat > /etc/kubernetes/admin.conf <<'EOF'\n{KUBECONFIG}EOF")
    added = ""
    if cp1.exec("python3", "-c", "import yaml", check=False).returncode != 0:
        # Hosts have no internet, and the test image lacks python3-yaml: copy PyYAML's pure
        # Python package in, as the role's package task would install it from the mirror.
        added = f"/usr/local/lib/python3.{sys.version_info.minor}/dist-packages/yaml"
        cp1.exec("mkdir", "-p", str(Path(added).parent))
        source = Path(yaml.__file__).parent
        subprocess.run(["podman", "cp", str(source), f"{cp1.container}:{added}"], check=True)
        cp1.exec("find", added, "-name", "*.so", "-delete")  # pure Python only
    yield directory
    for host in sandbox_cluster.names:
        sandbox_cluster.exec(host, "rm", "-rf", *REMOTE, check=False)
    if added:
        cp1.exec("rm", "-rf", added, check=False)


# The release's helm step fails (no cluster), then the role's rescue stops the run naming it.
FAILED_WEB = [
    ("k8s-install-addon-web", "Install or upgrade the release"),
    ("k8s-install-addon-web", "Stop, naming the release and its pods' state"),
]


def test_apply_copies_to_the_first_control_plane_and_runs_helm_there(
    sandbox_cluster: SandboxCluster,
    repo: Path,
    helm_binary: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    result = CliRunner().invoke(
        cli, ["addons", "apply", "-c", str(repo / "cluster.yaml"), "--json", "--yes"]
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    outcome = next(line for line in lines if line.get("type") == "result")
    assert result.exit_code == 1, result.output
    log = (Path(outcome["artifacts"]) / "stdout").read_text()
    # Wave 1 ran on cp1 (delegated, as root) and failed for want of a cluster; the rescue
    # stopped the run naming the release; wave 2 never ran.
    assert [(f["host"], f["task"]) for f in outcome["failures"]] == FAILED_WEB
    assert "addon release" in log and "/web failed" in log
    assert outcome["hosts"]["k8s-install-addon-stack"]["failures"] == 0
    assert "k8s-install-addon-web -> cp1" in log
    assert "kubernetes cluster unreachable" in log.lower()  # helm ran against admin.conf
    cp1 = sandbox_cluster.host("cp1")
    listing = cp1.exec("find", "/var/lib/k8s-install/addons", "-printf", "%p %m\n").stdout
    assert "/var/lib/k8s-install/addons 700" in listing
    assert "/var/lib/k8s-install/addons/charts/web-1.2.0.tgz 600" in listing
    assert "/var/lib/k8s-install/addons/values/web.yaml 600" in listing
    assert "/var/lib/k8s-install/addons/values/stack.yaml 600" in listing
    remote_sum = cp1.exec("sha256sum", "/usr/local/bin/k8s-install-helm").stdout.split()[0]
    assert remote_sum == hashlib.sha256(helm_binary.read_bytes()).hexdigest()
    values = cp1.exec("cat", "/var/lib/k8s-install/addons/values/web.yaml").stdout
    assert values == (repo / "rendered/addons/web/values.yaml").read_text()
    for worker in ("worker1", "worker2"):  # only the first control plane is touched
        assert sandbox_cluster.exec(worker, "test", "-e", REMOTE[0], check=False).returncode != 0


def test_a_second_apply_copies_nothing_again(
    sandbox_cluster: SandboxCluster, repo: Path, helm_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idempotence up to the boundary: helm, charts and values are already in place."""
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    result = CliRunner().invoke(
        cli, ["addons", "apply", "-c", str(repo / "cluster.yaml"), "--json", "--yes"]
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    outcome = next(line for line in lines if line.get("type") == "result")
    assert outcome["hosts"]["cp1"]["changed"] == 0, outcome["changed_tasks"]
    assert outcome["changed_tasks"] == []


def test_check_mode_reaches_helm_on_the_node(
    sandbox_cluster: SandboxCluster, repo: Path, helm_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`addons apply --check`: the working files are in place, helm compares on cp1 (and, with no
    cluster, fails there); no run record is written for a check."""
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    records = set((repo / "runs").glob("*.yaml"))
    result = CliRunner().invoke(
        cli, ["addons", "apply", "-c", str(repo / "cluster.yaml"), "--json", "--check"]
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    outcome = next(line for line in lines if line.get("type") == "result")
    assert [(f["host"], f["task"]) for f in outcome["failures"]] == FAILED_WEB
    assert set((repo / "runs").glob("*.yaml")) == records
