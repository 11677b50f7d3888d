"""The sandbox without podman: names, sizes, cluster.yaml, keys, image tags, bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.base.errors import InvalidInput, K8sInstallError
from k8s_install.cli import cli
from k8s_install.model import yamlfile
from k8s_install.model.validate import problems_in
from k8s_install.sandbox import clusterfile, hosts, image, keys, layout, podman


def test_node_specs_put_control_planes_first() -> None:
    specs = layout.node_specs(4, 2)
    assert [(s.name, s.roles, s.index) for s in specs] == [
        ("cp1", ("control-plane", "etcd"), 0),
        ("cp2", ("control-plane", "etcd"), 1),
        ("worker1", ("worker",), 2),
        ("worker2", ("worker",), 3),
    ]


@pytest.mark.parametrize(
    ("nodes", "control_planes", "field"),
    [(0, 1, "--nodes"), (21, 1, "--nodes"), (3, 0, "--control-planes"), (2, 3, "--control-planes")],
)
def test_bad_sizes_name_the_option(nodes: int, control_planes: int, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        layout.node_specs(nodes, control_planes)
    assert field in [p.path for p in caught.value.problems]


@pytest.mark.parametrize("name", ["", "Dev", "dev_1", "-dev", "x" * 31, "a b"])
def test_bad_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        layout.layout(name, tmp_path)


def test_podman_names_and_paths(tmp_path: Path) -> None:
    lay = layout.layout("dev", tmp_path)
    assert lay.network == "k8si-dev"
    assert lay.container("cp1") == "k8si-dev-cp1"
    assert lay.volume("worker1") == "k8si-dev-worker1-containerd"
    assert lay.key == tmp_path.resolve() / ".sandbox" / "dev" / "id_ed25519"
    assert layout.address("10.89.3.0/24", 0) == "10.89.3.11"


@pytest.mark.parametrize("subnet", ["10.0.0.0/29", "fd00::/64", "10.0.0.1/24", "nonsense"])
def test_bad_subnets_are_refused(subnet: str) -> None:
    with pytest.raises(InvalidInput):
        layout.check_subnet(subnet, 3)


def test_cidrs_avoid_the_sandbox_subnet() -> None:
    assert clusterfile.cidrs_for("10.89.0.0/24") == ("10.233.64.0/18", "10.233.0.0/18")
    assert clusterfile.cidrs_for("10.233.5.0/24") == ("172.30.64.0/18", "172.30.0.0/18")


def test_written_cluster_file_is_valid(tmp_path: Path) -> None:
    lay = layout.layout("dev", tmp_path)
    clusterfile.write(lay, layout.node_specs(3, 1), "10.89.7.0/24")
    doc = yamlfile.load(lay.cluster_file)
    assert [p for p in problems_in(doc) if p.severity == "error"] == []
    data = yaml.safe_load(lay.cluster_file.read_text())
    assert [(n["name"], n["address"], n["roles"]) for n in data["nodes"]] == [
        ("cp1", "10.89.7.11", ["control-plane", "etcd"]),
        ("worker1", "10.89.7.12", ["worker"]),
        ("worker2", "10.89.7.13", ["worker"]),
    ]
    assert data["access"]["ssh_key"] == ".sandbox/dev/id_ed25519"
    assert data["access"]["known_hosts"] == ".sandbox/dev/known_hosts"


def test_foreign_cluster_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text("name: mine\n")
    with pytest.raises(InvalidInput) as caught:
        clusterfile.write(layout.layout("dev", tmp_path), layout.node_specs(1, 1), "10.89.0.0/24")
    assert "--dir" in caught.value.problems[0].fix
    assert (tmp_path / "cluster.yaml").read_text() == "name: mine\n"


def test_cluster_file_removed_only_when_unchanged(tmp_path: Path) -> None:
    lay = layout.layout("dev", tmp_path)
    written = clusterfile.write(lay, layout.node_specs(1, 1), "10.89.0.0/24")
    lay.cluster_file.write_text(lay.cluster_file.read_text() + "# my note\n")
    assert not clusterfile.remove_if_unchanged(lay.cluster_file, written)
    written = clusterfile.write(lay, layout.node_specs(1, 1), "10.89.0.0/24")
    assert clusterfile.remove_if_unchanged(lay.cluster_file, written)


def test_a_cluster_file_edited_since_up_wrote_it_is_kept_by_the_next_up(tmp_path: Path) -> None:
    """`sandbox up` again on a sandbox whose cluster.yaml became a cluster repo's (addons,
    offline, pinned versions) keeps it, marker line or not."""
    lay = layout.layout("dev", tmp_path)
    written = clusterfile.write(lay, layout.node_specs(1, 1), "10.89.0.0/24")
    hosts._save_state(lay, {"cluster_digest": written})
    assert hosts._edited_cluster_file(lay) == ""  # as written: the next up rewrites it
    data = yaml.safe_load(lay.cluster_file.read_text())
    data["addons"] = {"releases": [{"preset": "metrics-server"}]}
    lay.cluster_file.write_text(yaml.safe_dump(data))  # the marker comment is gone too
    assert hosts._edited_cluster_file(lay) == written


def test_keys_are_private_valid_openssh_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "k" / "id_ed25519"
    first = keys.ensure_key(path, "test")
    assert path.stat().st_mode & 0o777 == 0o600
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()[:2]
    assert derived == first.public_line.split()[:2]
    assert keys.ensure_key(path, "test") == first
    line = keys.known_hosts_line(["cp1", "10.0.0.1"], first.public_line)
    assert line == f"cp1,10.0.0.1 {' '.join(derived)}"


def test_image_tag_hashes_the_package_set() -> None:
    a = image.spec_for(["nginx", "curl"])
    b = image.spec_for(["curl", "nginx", "curl", " "])
    assert a.tag == b.tag
    assert a.tag != image.spec_for([]).tag
    assert a.tag.startswith("localhost/k8s-install-host:bookworm-")
    assert set(image.BASE_PACKAGES) <= set(image.test_spec().packages)


@pytest.mark.parametrize("bad", ["rm -rf /", "-y", "pkg;ls", "Ünïcode"])
def test_bad_package_names_are_refused(bad: str) -> None:
    with pytest.raises(K8sInstallError):
        image.spec_for([bad])


def test_podman_hints_name_the_fix() -> None:
    assert "runc" in podman.hint_for("Error: crun: cannot set cgroup")
    assert "--subnet" in podman.hint_for("Error: address already in use")
    refused = "error setting rlimit type 6: operation not permitted: OCI permission denied"
    assert "hard limits" in podman.hint_for(refused)


@pytest.mark.parametrize(
    "args",
    [
        ["sandbox", "up", "--nodes", "0"],
        ["sandbox", "up", "--nodes", "3", "--control-planes", "4"],
        ["sandbox", "up", "--name", "Bad_Name"],
        ["sandbox", "up", "--subnet", "10.0.0.0/30"],
        ["sandbox", "up", "--extra-packages", "nginx;reboot"],
    ],
)
def test_cli_bad_input_exits_2(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [*args, "--dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "cluster.yaml").exists()
    assert not (tmp_path / ".sandbox").exists()


def test_cli_without_podman_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for args in (["sandbox", "status"], ["sandbox", "down"], ["sandbox", "up"]):
        result = CliRunner().invoke(cli, [*args, "--dir", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert "apt-get install podman runc debootstrap" in result.output


def test_every_sandbox_command_has_examples() -> None:
    for args in (
        ["sandbox"],
        ["sandbox", "up"],
        ["sandbox", "status"],
        ["sandbox", "down"],
        ["sandbox", "image", "build"],
        ["sandbox", "image", "list"],
        ["ping"],
    ):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0
        assert "Examples:" in result.output


def test_ping_with_invalid_cluster_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "cluster.yaml"
    bad.write_text("name: BAD NAME\nnodes: []\n")
    result = CliRunner().invoke(cli, ["ping", "-c", str(bad)])
    assert result.exit_code == 2
