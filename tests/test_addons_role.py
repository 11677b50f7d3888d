"""The addons role and playbook: syntax, argument spec, the plan checks, a no-op run twice, and
`addons apply/remove/diff` up to the API server, which this machine does not have.

There is no kube-apiserver here, so helm is pointed at a closed loopback port: the tests prove
the order of the steps and where the run stops, not an install. docs/addons.md says how to run
the role against a live cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from k8s_install.base import output_schemas as jsonout
from k8s_install.base.resources import data_dir, playbook
from k8s_install.cli import cli

CHARTS = Path(__file__).parent / "fixtures" / "charts"
VENV_BIN = Path(sys.executable).parent
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
contexts: [{name: none, context: {cluster: none, user: nobody}}]
current-context: none
users: [{name: nobody, user: {token: not-a-token}}]
"""


def ansible_playbook(
    tmp_path: Path, plan: dict[str, Any], *extra: str
) -> subprocess.CompletedProcess[str]:
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    env = {
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "ANSIBLE_ROLES_PATH": str(data_dir("roles")),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    return subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            str(playbook("addons.yml")),
            "-e",
            json.dumps(
                {
                    "k8s_install_addons_plan": str(plan_file),
                    "k8s_install_addons_local": True,
                    "k8s_install_addons_kubeconfig": str(tmp_path / "kubeconfig"),
                    "ansible_python_interpreter": sys.executable,
                }
            ),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


EMPTY = {"addons_releases": [], "addons_removals": [], "addons_helm_source": "/usr/bin/true"}


def test_the_playbook_passes_syntax_check(tmp_path: Path) -> None:
    result = ansible_playbook(tmp_path, EMPTY, "--syntax-check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_empty_plan_runs_and_changes_nothing_twice(tmp_path: Path) -> None:
    for _ in range(2):
        result = ansible_playbook(tmp_path, EMPTY)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "changed=0" in result.stdout and "failed=0" in result.stdout


def test_the_argument_spec_rejects_a_release_without_a_chart(tmp_path: Path) -> None:
    plan = {
        **EMPTY,
        "addons_releases": [{"name": "a", "namespace": "a", "wave": 1, "values_file": "/v"}],
    }
    result = ansible_playbook(tmp_path, plan)
    assert result.returncode != 0
    assert "missing required arguments: chart" in result.stdout


def test_the_role_refuses_waves_out_of_order(tmp_path: Path) -> None:
    release = {"namespace": "n", "chart": "/c.tgz", "values_file": "/v.yaml"}
    plan = {
        **EMPTY,
        "addons_releases": [
            {**release, "name": "b", "wave": 2},
            {**release, "name": "a", "wave": 1},
        ],
    }
    result = ansible_playbook(tmp_path, plan)
    assert result.returncode != 0
    assert "The addons plan is inconsistent" in result.stdout


# The CLI end to end, up to the (absent) API server.


def make_repo(directory: Path, releases: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "name": "lab",
        "kubernetes": {"version": "1.35.4"},
        "nodes": [
            {"name": "cp1", "address": "192.0.2.11", "roles": ["control-plane", "etcd", "worker"]}
        ],
        "addons": {"globals": {"registry": "mirror.example:5000"}, "releases": releases},
    }
    (directory / "cluster.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    if not (directory / "charts").exists():
        shutil.copytree(CHARTS, directory / "charts")
    (directory / "kubeconfig").write_text(KUBECONFIG)
    return directory / "cluster.yaml"


RELEASES = [
    {
        "name": "web",
        "chart": "./charts/web",
        "values": {"image": {"registry": "${globals.registry}"}},
    },
    {"name": "stack", "chart": "./charts/stack", "depends_on": ["web"]},
]


@pytest.fixture
def repo(helm_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    monkeypatch.setenv("K8S_INSTALL_CACHE", str(tmp_path / "cache"))
    return make_repo(tmp_path / "repo", RELEASES)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def final_document(text: str, command: str = "addons apply") -> dict[str, Any]:
    """The run result merged with the addons summary; every line must match the schema."""
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        assert jsonout.errors(command, line) == [], line
    result = next(line for line in lines if line.get("type") == "result")
    summary = lines[-1]
    assert summary["type"] == "addons" and summary["exit_code"] == result["exit_code"]
    return {**result, **summary}


def test_apply_installs_a_wave_at_once_and_stops_before_the_next(repo: Path) -> None:
    make_repo(repo.parent, [*RELEASES, {"name": "cache", "chart": "./charts/stack"}])
    kubeconfig = str(repo.parent / "kubeconfig")
    result = invoke("addons", "apply", "-c", str(repo), "--kubeconfig", kubeconfig, "--json")
    assert result.exit_code == 1, result.output
    report = final_document(result.stdout)
    assert [(c["action"], c["name"], c["wave"]) for c in report["changes"]] == [
        ("install", "cache", 1),
        ("install", "web", 1),
        ("install", "stack", 2),
    ]
    assert (repo.parent / "rendered/addons/web/manifest.yaml").is_file()
    # Both releases of wave 1 were tried (in parallel, one in-memory host each); wave 2 never ran.
    failed = sorted({f["host"] for f in report["failures"]})
    assert failed == ["k8s-install-addon-cache", "k8s-install-addon-web"]
    assert {f["task"] for f in report["failures"]} == {
        "Install or upgrade the release",
        "Stop, naming the release and its pods' state",
    }
    # The run names each failed release, its pods' state and what became of it.
    stops = {f["host"]: f["message"] for f in report["failures"] if f["task"].startswith("Stop")}
    assert stops["k8s-install-addon-web"].startswith(
        "addon release web/web failed: Error: Kubernetes cluster unreachable"
    )
    assert "Pods not Ready: unknown, kubectl failed." in stops["k8s-install-addon-web"]
    assert "It had no deployed revision" in stops["k8s-install-addon-web"]
    stack = report["hosts"]["k8s-install-addon-stack"]
    assert (stack["failures"], stack["changed"]) == (0, 0)
    artifacts = Path(report["artifacts"])
    assert "kubernetes cluster unreachable" in (artifacts / "stdout").read_text().lower()
    plan = yaml.safe_load((repo.parent / ".k8s-install/addons/plan.yaml").read_text())
    assert [r["name"] for r in plan["addons_releases"]] == ["cache", "web", "stack"]
    assert plan["addons_releases"][1]["chart"].endswith("web-1.2.0.tgz")


def test_pruning_runs_first_and_needs_confirmation(repo: Path) -> None:
    (repo.parent / "state").mkdir()
    applied = yaml.safe_load(repo.read_text())
    applied["addons"]["releases"].append(
        {"name": "old", "chart": "./charts/web", "namespace": "legacy"}
    )
    (repo.parent / "state" / "applied.yaml").write_text(yaml.safe_dump(applied))
    kubeconfig = str(repo.parent / "kubeconfig")
    refused = invoke("addons", "apply", "-c", str(repo), "--kubeconfig", kubeconfig, "--json")
    assert refused.exit_code == 2
    assert "this run uninstalls old" in refused.output and "--yes" in refused.output
    assert not (repo.parent / ".k8s-install" / "artifacts").exists()  # nothing ran

    result = invoke(
        "addons", "apply", "-c", str(repo), "--kubeconfig", kubeconfig, "--json", "--yes"
    )
    report = final_document(result.stdout)
    assert report["changes"][0] == {
        "action": "remove",
        "name": "old",
        "namespace": "legacy",
        "reason": "deleted from cluster.yaml",
        "wave": None,
    }
    assert report["failures"][0]["task"] == "Uninstall removed releases, dependents first"


def test_remove_is_refused_while_an_enabled_release_needs_it(repo: Path) -> None:
    result = invoke("addons", "remove", "web", "-c", str(repo), "--yes")
    assert result.exit_code == 2
    assert "'web' is needed by stack" in result.output
    unknown = invoke("addons", "remove", "nope", "-c", str(repo), "--yes")
    assert unknown.exit_code == 2 and "use one of: stack, web" in unknown.output


def test_diff_without_an_api_server_exits_3(repo: Path) -> None:
    assert invoke("addons", "render", "-c", str(repo)).exit_code == 0
    kubeconfig = str(repo.parent / "kubeconfig")
    result = invoke("addons", "diff", "-c", str(repo), "--kubeconfig", kubeconfig)
    assert result.exit_code == 3
    assert "cannot read release" in result.output


def test_diff_without_a_kubeconfig_says_where_to_get_one(repo: Path) -> None:
    result = invoke("addons", "diff", "-c", str(repo))
    assert result.exit_code == 2
    assert "admin.conf" in result.output


def test_a_successful_addons_run_records_only_the_addons_as_applied(
    helm_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    path = make_repo(
        tmp_path / "repo", [{"name": "web", "chart": "./charts/web", "enabled": False}]
    )
    applied = yaml.safe_load(path.read_text())
    applied["addons"] = {"globals": {}, "releases": []}
    (path.parent / "state").mkdir()
    (path.parent / "state" / "applied.yaml").write_text(yaml.safe_dump(applied))
    data = yaml.safe_load(path.read_text())  # a node added but not applied yet
    data["nodes"].append({"name": "w1", "address": "192.0.2.21", "roles": ["worker"]})
    path.write_text(yaml.safe_dump(data))
    kubeconfig = str(path.parent / "kubeconfig")
    result = invoke("addons", "apply", "-c", str(path), "--kubeconfig", kubeconfig, "--json")
    assert result.exit_code == 0, result.output
    assert final_document(result.stdout)["changes"] == []  # nothing to install or prune
    state = yaml.safe_load((path.parent / "state" / "applied.yaml").read_text())
    assert state["addons"]["releases"] == [
        {"name": "web", "chart": "./charts/web", "enabled": False}
    ]
    assert [n["name"] for n in state["nodes"]] == ["cp1"]  # the new node is still not applied
    records = list((path.parent / "runs").glob("*.yaml"))
    assert len(records) == 1
    assert yaml.safe_load(records[0].read_text())["command"] == "addons apply"


def test_drift_of_addons_needs_a_kubeconfig(repo: Path) -> None:
    from k8s_install.addons import drift
    from k8s_install.base.errors import K8sInstallError
    from k8s_install.model import config

    with pytest.raises(K8sInstallError, match="no kubeconfig"):
        drift.detect(config.load(repo))


def test_list_explains_an_empty_addons_section(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "repo", [])
    result = invoke("addons", "list", "-c", str(path))
    assert result.exit_code == 0 and "no addon releases" in result.output
