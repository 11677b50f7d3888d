"""`k8s-install validate`: every bad input is named with its field path and fix, exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.base.resources import sample_cluster
from k8s_install.cli import cli

Edit = Callable[[dict[str, Any]], None]


def sample() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(sample_cluster().read_text())
    return data


def run_validate(path: Path, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["validate", "-c", str(path), *extra])


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_sample_is_valid() -> None:
    result = run_validate(sample_cluster())
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


def set_path(*keys: Any, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def drop_roles(role: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for node in data["nodes"]:
            node["roles"] = [r for r in node["roles"] if r != role] or ["worker"]

    return edit


def add_etcd_to_worker(data: dict[str, Any]) -> None:
    data["nodes"][3]["roles"].append("etcd")


def duplicate_name(data: dict[str, Any]) -> None:
    data["nodes"][4]["name"] = data["nodes"][3]["name"]


def duplicate_address(data: dict[str, Any]) -> None:
    data["nodes"][2]["address"] = data["nodes"][1]["address"]


def many_nodes(data: dict[str, Any]) -> None:
    data["network"]["pod_cidr"] = "10.233.64.0/22"
    data["network"]["node_prefix"] = 24
    for i in range(5):
        data["nodes"].append(
            {"name": f"extra{i}", "address": f"192.0.2.{100 + i}", "roles": ["worker"]}
        )


CASES: list[tuple[str, Edit, str, str]] = [
    ("unknown key", set_path("nodse", value=[]), "nodse", "did you mean 'nodes'"),
    (
        "unknown nested key",
        set_path("network", "pod_cird", value="10.0.0.0/16"),
        "network.pod_cird",
        "did you mean 'pod_cidr'",
    ),
    ("no control plane", drop_roles("control-plane"), "nodes", "control-plane"),
    ("even etcd", add_etcd_to_worker, "nodes", "the same as 3"),
    ("duplicate name", duplicate_name, "nodes[4].name", "unique name"),
    ("duplicate address", duplicate_address, "nodes[2].address", "own address"),
    ("bad name", set_path("nodes", 0, "name", value="CP_1"), "nodes[0].name", "RFC 1123"),
    (
        "pod/service overlap",
        set_path("network", "service_cidr", value="10.233.64.0/20"),
        "network.service_cidr",
        "do not overlap",
    ),
    (
        "node in pod cidr",
        set_path("nodes", 0, "address", value="10.233.70.1"),
        "nodes[0].address",
        "away from the node network",
    ),
    ("pod cidr too small", many_nodes, "network.pod_cidr", "widen pod_cidr"),
    (
        "unsupported version",
        set_path("kubernetes", "version", value="1.29.0"),
        "kubernetes.version",
        "1.35.4",
    ),
    (
        "string for boolean",
        set_path("access", "become", value="yes"),
        "access.become",
        "true or false",
    ),
    (
        "plaintext secret",
        set_path("kubespray", value={"registry_password": "hunter2"}),
        "kubespray.registry_password",
        "ansible-vault encrypt_string",
    ),
    (
        "pasted private key",
        set_path(
            "kubespray", value={"key_material": "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nx"}
        ),
        "kubespray.key_material",
        "vault",
    ),
    (
        "managed kubespray var",
        set_path("kubespray", value={"kube_version": "1.35.0"}),
        "kubespray.kube_version",
        "kubernetes.version",
    ),
    (
        "offline without bundle",
        set_path("offline", value={"enabled": True, "repo_host": "cp1"}),
        "offline.bundle",
        "set offline.bundle",
    ),
    ("bad taint", set_path("nodes", 3, "taints", value=["nope"]), "nodes[3].taints[0]", ""),
    (
        "bad cidr",
        set_path("network", "pod_cidr", value="10.233.64.1/18"),
        "network.pod_cidr",
        "no host bits",
    ),
]


@pytest.mark.parametrize(("case", "edit", "path", "fix"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(tmp_path: Path, case: str, edit: Edit, path: str, fix: str) -> None:
    data = sample()
    edit(data)
    result = run_validate(write(tmp_path, data), "--json")
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is False
    matching = [p for p in report["problems"] if p["path"] == path]
    assert matching, f"{case}: no problem at {path}: {report['problems']}"
    assert any(fix in p["fix"] or fix in p["message"] for p in matching), matching


def test_every_problem_in_one_pass(tmp_path: Path) -> None:
    data = sample()
    for _, edit, _, _ in [*CASES[:8], CASES[11]]:
        edit(data)
    result = run_validate(write(tmp_path, data), "--json")
    paths = {p["path"] for p in json.loads(result.stdout)["problems"]}
    assert {"nodse", "network.pod_cird", "nodes[0].name", "access.become"} <= paths


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("name: x\nnodes:\n  - name: a\n   address: b\n")
    result = run_validate(path)
    assert result.exit_code == 2
    assert f"{path}:4:" in result.output
    assert "invalid YAML" in result.output


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(sample_cluster().read_text() + "\nname: again\n")
    result = run_validate(path)
    assert result.exit_code == 2
    assert "duplicate key 'name'" in result.output


def test_missing_file_names_the_fix(tmp_path: Path) -> None:
    result = run_validate(tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "k8s-install init" in result.output


def test_vaulted_secret_is_accepted(tmp_path: Path) -> None:
    text = sample_cluster().read_text() + (
        "\nkubespray:\n  registry_password: !vault |\n"
        "    $ANSIBLE_VAULT;1.1;AES256\n    3661383264\n"
    )
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    assert run_validate(path).exit_code == 0


def test_host_key_checking_off_is_a_warning(tmp_path: Path) -> None:
    data = sample()
    data["access"]["host_key_checking"] = False
    result = run_validate(write(tmp_path, data), "--json")
    assert result.exit_code == 0
    problems = json.loads(result.stdout)["problems"]
    assert problems[0]["severity"] == "warning"
    assert problems[0]["path"] == "access.host_key_checking"


def test_validate_never_contacts_a_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("validate opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    data = sample()
    assert run_validate(write(tmp_path, data)).exit_code == 0
