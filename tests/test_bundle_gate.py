"""A bundle that does not match its manifest stops `up`, scale, remove-node and upgrade before
any host changes: exit 2, the file named, and no Ansible run (nor run directory) at all.

The bundles are real ones, built by `bundle build` from local sources (test_bundle_local).
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible import progress, runner
from k8s_install.bundle import sign
from k8s_install.checks import drift
from k8s_install.cli import cli
from k8s_install.engine import kubespray
from k8s_install.model import config
from k8s_install.records import applied_file
from test_bundle_local import KUBELET_URL
from test_offline_checksums import _bundle, _offline

KUBELET = "files/" + KUBELET_URL.removeprefix("https://")


class Reached(Exception):
    """The command got past the bundle check to the next step."""


@pytest.fixture
def no_ansible(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way to reach a host raises Reached (and is noted)."""
    calls: list[str] = []

    def reached(name: str) -> Any:
        def stop(*_args: Any, **_kwargs: Any) -> Any:
            calls.append(name)
            raise Reached(name)

        return stop

    monkeypatch.setattr(runner, "run_playbook", reached("runner"))
    monkeypatch.setattr(progress, "execute", reached("execute"))
    monkeypatch.setattr(drift, "detect", reached("drift"))
    monkeypatch.setattr(kubespray, "resolve", reached("engine"))
    return calls


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    sign.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    return tmp_path / "k.key", tmp_path / "k.pub"


def _flip(bundle: Path, relative: str) -> None:
    """One byte of one file, in a directory or in place inside an uncompressed .tar."""
    if bundle.is_dir():
        path = bundle / relative
        data = bytearray(path.read_bytes())
        data[0] ^= 0xFF
        path.write_bytes(bytes(data))
        return
    with tarfile.open(bundle) as tar:
        offset = tar.getmember(relative).offset_data
    with bundle.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ 0xFF]))


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _no_run_left(cluster_yaml: Path) -> None:
    root = cluster_yaml.parent
    assert not (root / ".k8s-install" / "runs").exists()
    assert not (root / "runs").exists()
    assert not (root / "state").exists() or not list((root / "state").glob("*.lock"))


@pytest.mark.parametrize("suffix", ["", ".tar"])
def test_a_corrupted_bundle_stops_up_before_ansible(
    suffix: str,
    sample_copy: Path,
    keys: tuple[Path, Path],
    tmp_path: Path,
    no_ansible: list[str],
) -> None:
    bundle = _bundle(tmp_path, keys[0], f"bundle{suffix}")
    cluster_yaml = _offline(sample_copy, bundle, keys[1])
    _flip(bundle, KUBELET)
    result = _run("up", "-c", str(cluster_yaml), "--yes")
    assert result.exit_code == 2, result.output
    assert KUBELET in result.output and "does not match its manifest" in result.output
    assert "k8s-install bundle verify" in result.output  # the fix
    assert no_ansible == []
    _no_run_left(cluster_yaml)


def test_a_bundle_with_a_link_stops_up_naming_the_link(
    sample_copy: Path,
    keys: tuple[Path, Path],
    tmp_path: Path,
    no_ansible: list[str],
) -> None:
    """`bundle verify` refuses links without reading the manifest: the gate says so, not that
    the signature is bad."""
    bundle = _bundle(tmp_path, keys[0])
    cluster_yaml = _offline(sample_copy, bundle, keys[1])
    (bundle / KUBELET).unlink()
    (bundle / KUBELET).symlink_to("/etc/hostname")
    result = _run("up", "-c", str(cluster_yaml), "--yes")
    assert result.exit_code == 2, result.output
    assert "links or special files, refused" in result.output
    assert KUBELET in result.output and "signature" not in result.output
    assert no_ansible == []
    _no_run_left(cluster_yaml)


def test_a_good_bundle_lets_up_go_on(
    sample_copy: Path, keys: tuple[Path, Path], tmp_path: Path, no_ansible: list[str]
) -> None:
    cluster_yaml = _offline(sample_copy, _bundle(tmp_path, keys[0]), keys[1])
    result = _run("up", "-c", str(cluster_yaml), "--yes")
    assert isinstance(result.exception, Reached), result.output
    assert no_ansible == ["drift"]
    assert "verified the offline bundle" in result.output


def _applied_without(cluster_yaml: Path, change: dict[str, Any]) -> None:
    """state/applied.yaml as cluster.yaml with `change` made to it."""
    cluster = config.load(cluster_yaml)
    spec = {**cluster.spec, **change}
    applied_file.write_applied(config.Cluster(spec, cluster.path, config._nodes(spec)))


@pytest.mark.parametrize(
    ("command", "applied"),
    [
        (["scale"], "fewer_workers"),
        (["remove-node", "worker3"], "more_workers"),
        (["upgrade"], "older_kubernetes"),
    ],
)
def test_a_corrupted_bundle_stops_scale_and_remove_node(
    command: list[str],
    applied: str,
    sample_copy: Path,
    keys: tuple[Path, Path],
    tmp_path: Path,
    no_ansible: list[str],
) -> None:
    bundle = _bundle(tmp_path, keys[0])
    cluster_yaml = _offline(sample_copy, bundle, keys[1])
    nodes = yaml.safe_load(cluster_yaml.read_text())["nodes"]
    extra = {"name": "worker3", "address": "192.0.2.23", "roles": ["worker"]}
    change: dict[str, Any] = {
        "fewer_workers": {"nodes": nodes[:-1]},
        "more_workers": {"nodes": [*nodes, extra]},
        "older_kubernetes": {"kubernetes": {**config.load(cluster_yaml).spec["kubernetes"],
                                            "version": "1.34.3"}},
    }[applied]  # fmt: skip
    _applied_without(cluster_yaml, change)
    _flip(bundle, KUBELET)
    result = _run(*command, "-c", str(cluster_yaml), "--yes")
    assert result.exit_code == 2, result.output
    assert KUBELET in result.output
    assert no_ansible == []
    _no_run_left(cluster_yaml)


def test_without_a_public_key_the_bundle_cannot_be_verified(
    sample_copy: Path, keys: tuple[Path, Path], tmp_path: Path, no_ansible: list[str]
) -> None:
    cluster_yaml = _offline(sample_copy, _bundle(tmp_path, keys[0]), keys[1])
    data = yaml.safe_load(cluster_yaml.read_text())
    del data["offline"]["public_key"]
    cluster_yaml.write_text(yaml.safe_dump(data))
    result = _run("up", "-c", str(cluster_yaml), "--yes")
    assert result.exit_code == 2 and "offline.public_key is not set" in result.output
    assert no_ansible == []


def test_reset_is_not_held_back_by_a_broken_bundle(
    sample_copy: Path, keys: tuple[Path, Path], tmp_path: Path, no_ansible: list[str]
) -> None:
    bundle = _bundle(tmp_path, keys[0])
    cluster_yaml = _offline(sample_copy, bundle, keys[1])
    _flip(bundle, KUBELET)
    result = _run("reset", "-c", str(cluster_yaml), "--yes", "--allow-dirty")
    assert isinstance(result.exception, Reached), result.output
    assert no_ansible == ["engine"]


@pytest.mark.parametrize("command", [["up"], ["upgrade"]])
def test_a_bundle_for_another_kubernetes_version_stops_the_run(
    command: list[str],
    sample_copy: Path,
    keys: tuple[Path, Path],
    tmp_path: Path,
    no_ansible: list[str],
) -> None:
    """An upgrade whose bundle still carries another version's files: refused, both named."""
    cluster_yaml = _offline(sample_copy, _bundle(tmp_path, keys[0]), keys[1])
    carried = config.load(cluster_yaml).kubernetes_version
    data = yaml.safe_load(cluster_yaml.read_text())
    applied = {"kubernetes": {**data["kubernetes"], "version": "1.34.7"}}
    data["kubernetes"]["version"] = "1.35.3"
    cluster_yaml.write_text(yaml.safe_dump(data))
    _applied_without(cluster_yaml, applied)
    result = _run(*command, "-c", str(cluster_yaml), "--yes")
    assert result.exit_code == 2, result.output
    assert f"carries Kubernetes {carried}" in result.output
    assert "kubernetes.version is 1.35.3" in result.output
    assert no_ansible == []
    _no_run_left(cluster_yaml)
