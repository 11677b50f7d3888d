"""Serve a bundle on a sandbox host; a node pulls an image over TLS and fetches a binary.

The sandbox network is internal (no default route): the hosts reach only each other and this
machine, so the pull and the download below prove the install path needs nothing outside.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.bundle import build, sign
from k8s_install.cli import cli
from test_bundle_servers import Sources, build_sources, need_servers, nginx, registry

from .conftest import SandboxCluster, SandboxFactory

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(
    sandbox_factory: SandboxFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SandboxCluster, Path, Sources]]:
    """A 2-node sandbox (cp1 serves, worker1 pulls) and a signed bundle from loopback sources."""
    need_servers()
    sandbox = sandbox_factory("bundle", nodes=2)
    work = tmp_path_factory.mktemp("bundle-sources")
    (work / "www").mkdir()
    with nginx(work / "www", work / "nginx") as (url, log), registry(work / "registry") as reg:
        sources = build_sources(work / "www", reg, url, log)
        cluster_file = sandbox.copy_to(tmp_path_factory.mktemp("bundle-cluster"))
        root = cluster_file.parent
        sign.keygen(root / "site.key", root / "site.pub")
        opts = build.Options(
            root / "bundle.tar",
            root / "site.key",
            work / "cache",
            sources.mirrors,
            sources.registry_mirrors,
            wheels=False,
        )
        build.build(sources.plan, opts)
    data = yaml.safe_load(cluster_file.read_text())
    data["offline"] = {
        "enabled": True,
        "bundle": "bundle.tar",
        "public_key": "site.pub",
        "repo_host": "cp1",
    }
    cluster_file.write_text(yaml.safe_dump(data))
    yield sandbox, cluster_file, sources


def _serve(cluster_file: Path) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(cli, ["bundle", "serve", "-c", str(cluster_file), "--json"])
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, events


def test_serve_then_a_node_pulls_and_downloads(
    served: tuple[SandboxCluster, Path, Sources],
) -> None:
    sandbox, cluster_file, sources = served
    worker = sandbox.host("worker1")
    repo = sandbox.host("cp1").address
    assert worker.exec("ip", "route", "show", "default").stdout.strip() == ""  # no route out

    code, events = _serve(cluster_file)
    assert code == 0, events
    served_event = next(e for e in events if e.get("event") == "served")
    assert sorted(served_event["images"]) == sorted(sources.plan.images)  # type: ignore[arg-type]

    worker.exec("systemctl", "start", "containerd")
    ref = f"{repo}:5000/test/image0:v1.0.0"
    pulled = worker.exec(
        "ctr", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", ref, check=False
    )
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    # An image named by its upstream registry is pulled from the bundle's registry too.
    upstream = worker.exec(
        "ctr",
        "images",
        "pull",
        "--hosts-dir",
        "/etc/containerd/certs.d",
        sources.plan.images[1],
        check=False,
    )
    assert upstream.returncode == 0, upstream.stdout + upstream.stderr
    listed = worker.exec("ctr", "images", "ls", "-q").stdout.split()
    assert ref in listed and sources.plan.images[1] in listed

    binary = sources.plan.files[0]
    url = f"https://{repo}:8080/{binary.path.removeprefix('files/')}"
    fetched = subprocess.run(
        ["podman", "exec", worker.container, "curl", "-sSf", url], capture_output=True, check=False
    )
    assert fetched.returncode == 0, fetched.stderr  # curl trusts the CA from the system store
    assert hashlib.sha256(fetched.stdout).hexdigest() == binary.sha256


def test_second_serve_changes_nothing(served: tuple[SandboxCluster, Path, Sources]) -> None:
    _sandbox, cluster_file, _sources = served
    code, events = _serve(cluster_file)
    assert code == 0
    run = next(e for e in events if e.get("event") == "served")["run"]
    assert run["changed_tasks"] == [] or all(h["changed"] == 0 for h in run["hosts"].values())  # type: ignore[index]


def test_nodes_cannot_push_to_the_registry(served: tuple[SandboxCluster, Path, Sources]) -> None:
    sandbox, _cluster_file, _sources = served
    repo = sandbox.host("cp1").address
    attempt = sandbox.host("worker1").exec(
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "POST",
        f"https://{repo}:5000/v2/test/image0/blobs/uploads/",
        check=False,
    )
    assert attempt.stdout == "403"


def test_a_tampered_bundle_is_not_served(
    served: tuple[SandboxCluster, Path, Sources], tmp_path: Path
) -> None:
    _sandbox, cluster_file, _sources = served
    unpacked = build.unpack(cluster_file.parent / "bundle.tar", tmp_path / "b")
    target = next((unpacked / "charts").iterdir())
    target.write_bytes(target.read_bytes() + b"x")
    result = CliRunner().invoke(
        cli, ["bundle", "serve", "-c", str(cluster_file), "--bundle", str(unpacked)]
    )
    assert result.exit_code == 1
    assert "does not verify" in result.output
