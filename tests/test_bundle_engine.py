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


def test_engine_renders_containerd_hosts_with_our_ca(sample_copy: Path) -> None:
    """Kubespray's own hosts.toml template, fed our containerd_registries_mirrors."""
    import jinja2

    from k8s_install.ansible import offline_repo as offline
    from k8s_install.model import config

    data = yaml.safe_load(sample_copy.read_text())
    data["offline"] = {"enabled": True, "bundle": "b.tar", "repo_host": "cp1"}
    sample_copy.write_text(yaml.safe_dump(data))
    values = offline.group_vars(config.load(sample_copy))
    template = Path(ENGINE, "roles", "container-engine", "containerd", "templates", "hosts.toml.j2")
    env = jinja2.Environment()
    env.filters["flatten"] = lambda value: [
        x for v in value for x in (v if isinstance(v, list) else [v])
    ]  # Ansible's filter, one level deep is all the template needs
    compiled = env.from_string(template.read_text())
    rendered = {
        item["prefix"]: compiled.render(item=item)
        for item in values["containerd_registries_mirrors"]
    }
    mine = rendered["10.0.0.11:5000"]
    assert '[host."https://10.0.0.11:5000"]' in mine
    assert 'ca = ["/etc/containerd/certs.d/10.0.0.11:5000/ca.crt"]' in mine
    assert "skip_verify = false" in mine
    assert 'server = "https://registry.k8s.io"' in rendered["registry.k8s.io"]
    assert '[host."https://10.0.0.11:5000"]' in rendered["registry.k8s.io"]
