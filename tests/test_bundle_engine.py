"""The bundle plan, resolved by the pinned engine itself (needs K8S_INSTALL_KUBESPRAY_DIR)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.cli import cli

ENGINE = os.environ.get("K8S_INSTALL_KUBESPRAY_DIR", "")

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(
        not ENGINE or not Path(ENGINE, "roles", "kubespray_defaults").is_dir(),
        reason="set K8S_INSTALL_KUBESPRAY_DIR to a Kubespray v2.31.0 checkout",
    ),
]


def _checksums() -> dict[str, dict[str, dict[str, str]]]:
    path = Path(ENGINE, "roles", "kubespray_defaults", "vars", "main", "checksums.yml")
    data: dict[str, dict[str, dict[str, str]]] = yaml.safe_load(path.read_text())
    return data


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_plan_takes_versions_and_sha256_from_the_engine(sample_copy: Path, arch: str) -> None:
    result = CliRunner().invoke(
        cli, ["bundle", "plan", "-c", str(sample_copy), "--arch", arch, "--json"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    files = {f["name"]: f for f in plan["files"]}
    sums = _checksums()
    for name, table in (
        ("kubelet", "kubelet_checksums"),
        ("kubeadm", "kubeadm_checksums"),
        ("kubectl", "kubectl_checksums"),
    ):
        assert files[name]["url"] == f"https://dl.k8s.io/release/v1.35.4/bin/linux/{arch}/{name}"
        assert files[name]["sha256"] == str(sums[table][arch]["1.35.4"]).removeprefix("sha256:")
    runc_version = next(iter(sums["runc_checksums"][arch]))
    assert files["runc"]["url"].endswith(f"/v{runc_version}/runc.{arch}")
    assert files["runc"]["sha256"] == str(sums["runc_checksums"][arch][runc_version]).removeprefix(
        "sha256:"
    )
    for needed in ("containerd", "crictl", "cni", "etcd", "nerdctl", "calicoctl"):
        assert needed in files, needed
    images = plan["images"]
    assert any(i.startswith("registry.k8s.io/pause:") for i in images)
    assert "registry.k8s.io/kube-apiserver:v1.35.4" in images
    assert any(i.startswith("quay.io/calico/node:") for i in images)
    assert (
        plan["engine"]["sha256"]
        == "fe400162b782dac74d009f6ef3028d1e2526c6f3f3a4cc9344247c82ae12e9cf"
    )


def test_plan_follows_the_cluster_options(sample_copy: Path) -> None:
    data = yaml.safe_load(sample_copy.read_text())
    data["network"]["plugin"] = "cilium"
    sample_copy.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["bundle", "plan", "-c", str(sample_copy), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert not any("calico" in i for i in plan["images"])
    assert any(i.startswith("quay.io/cilium/cilium:") for i in plan["images"])
    assert "ciliumcli" in {f["name"] for f in plan["files"]}
