"""A real Kubernetes cluster on sandbox hosts: built, bundled, served and installed.

`install` runs what a site that builds from source would run:
1. scripts/artifacts/build.py: every component from Go modules (cached by its inputs);
2. `sandbox up --kubernetes`: cp1 (control plane, etcd; it also serves the bundle), worker1,
   and worker2, kept out of cluster.yaml for the lifecycle tests to add (`spare`);
3. `bundle keygen`, `bundle plan`, `bundle build --local-files --local-images`: a signed
   bundle of our own builds and of the pinned engine release (the tarball in
   K8S_INSTALL_ENGINE_TARBALL, served by nginx on loopback as the release's download URL, so
   the bundle build verifies it against the pin); `bundle serve` on cp1;
4. `k8s-install up --yes`: Kubespray's cluster.yml through k8s-install, offline, with the engine
   taken from the signed bundle and verified (K8S_INSTALL_KUBESPRAY_DIR never reaches the
   commands; only `bundle plan` reads the checkout, to list the engine's downloads).
This machine's global kernel settings are saved before and restored after, even on failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import test_bundle_servers as servers
from k8s_install.engine import kubespray as engine
from k8s_install.sandbox import hosts

from . import sysctls

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENGINE_DIR = os.environ.get(engine.ENV_DIR, "")
# The engine's release tarball, byte for byte (.ci/run makes it with git archive | gzip -n).
ENGINE_TARBALL_ENV = "K8S_INSTALL_ENGINE_TARBALL"
ENGINE_TARBALL = os.environ.get(ENGINE_TARBALL_ENV, "")
# The Gateway API CRDs release asset (.ci/run assembles it: scripts/gateway-api-crds.sh).
GATEWAY_API_CRDS_ENV = "K8S_INSTALL_GATEWAY_API_CRDS"
GATEWAY_API_CRDS = os.environ.get(GATEWAY_API_CRDS_ENV, "")
KEEP_ENV = "K8S_INSTALL_TEST_KEEP_CLUSTER"  # 1: leave the cluster up after the session
# The repo of a kept cluster: the tests run on it again instead of installing a new one.
REUSE_ENV = "K8S_INSTALL_TEST_CLUSTER_DIR"
LOGS_ENV = "K8S_INSTALL_CLUSTER_LOGS"  # where the tests write the commands' logs
# Our smoke image (build/smoke): the server answers with its pod name; the client prints
# one line per request.
SMOKE_SERVER = ["/smoke", "serve", "-listen", ":80"]
SMOKE_CLIENT = ["/smoke", "get", "-n", "{{ post_checks_requests }}", "{{ post_checks_url }}"]


@dataclass
class LiveCluster:
    """The installed cluster: its repo, hosts, artifacts and what each step took."""

    directory: Path
    cluster_file: Path
    info: hosts.SandboxInfo
    artifacts: dict[str, object]
    timings: dict[str, float] = field(default_factory=dict)
    log_dir: Path = Path()
    spare: dict[str, object] = field(default_factory=dict)

    def container(self, node: str) -> str:
        return next(h.container for h in self.info.hosts if h.node == node)

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """kubectl on cp1 with the admin kubeconfig."""
        cmd = [
            "podman",
            "exec",
            self.container("cp1"),
            "kubectl",
            "--kubeconfig",
            "/etc/kubernetes/admin.conf",
            *args,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def cli(self, *args: str, log: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        """k8s-install ARGS in the cluster repo; output goes to LOG_DIR/LOG.log."""
        return run_logged(
            [str(BIN / "k8s-install"), *args], self.directory, self.log_dir / f"{log}.log", timeout
        )

    def edit(self, change: Callable[[dict[str, Any]], None], message: str) -> None:
        """Change cluster.yaml with `change` and commit it, as a person would."""
        data = yaml.safe_load(self.cluster_file.read_text())
        change(data)
        self.cluster_file.write_text(yaml.safe_dump(data, sort_keys=False))
        git(self.directory, "add", "cluster.yaml")
        git(self.directory, "commit", "-q", "-m", message)

    def on(self, node: str, *cmd: str, check: bool = True) -> str:
        """A command as root on a host."""
        proc = subprocess.run(
            ["podman", "exec", self.container(node), *cmd],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{node}: {' '.join(cmd)}: {proc.stderr.strip()}")
        return proc.stdout


def run_events(output: str) -> list[dict[str, Any]]:
    """The ansible-runner events of the last run a k8s-install command logged."""
    found = re.findall(r"log: (\S+)", output)
    assert found, _tail(output)
    events = [json.loads(p.read_text()) for p in (Path(found[-1]) / "job_events").glob("*.json")]
    return sorted(events, key=lambda e: int(e.get("counter", 0)))


def run_logged(
    cmd: list[str], cwd: Path, log: Path, timeout: float = 3600
) -> subprocess.CompletedProcess[str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    # The commands find the engine as a site does, in the signed bundle: never the checkout.
    env = {k: v for k, v in os.environ.items() if k != engine.ENV_DIR} | {"NO_COLOR": "1"}
    with log.open("w") as handle:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    return subprocess.CompletedProcess(cmd, proc.returncode, log.read_text(), "")


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def must(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        raise AssertionError(f"{what} failed (exit {proc.returncode}):\n{_tail(proc.stdout)}")
    return proc.stdout


def build_artifacts(log_dir: Path, release: str = "") -> dict[str, object]:
    """scripts/artifacts/build.py (the release set `release`, or the default one)."""
    cmd = [sys.executable, str(ROOT / "scripts/artifacts/build.py")]
    cmd += ["--set", release] if release else []
    proc = run_logged(cmd, ROOT, log_dir / f"artifacts{release}.log", timeout=5400)
    manifest = Path(must(proc, "scripts/artifacts/build.py").strip().splitlines()[-1])
    data = json.loads(manifest.read_text())
    data["dir"] = str(manifest.parent)
    return dict(data)


def pin_builds(path: Path, artifacts: dict[str, object]) -> None:
    """cluster.yaml pins the versions that were built, and checks with our smoke image."""
    data = yaml.safe_load(path.read_text())
    data.setdefault("kubernetes", {})["version"] = artifacts["kubernetes_version"]
    overrides = data.setdefault("kubespray", {})
    overrides.update(artifacts["versions"])
    images = [str(i) for i in artifacts.get("images", [])]  # type: ignore[attr-defined]
    overrides["post_checks_image"] = next(i for i in images if "/smoke:" in i)
    overrides["post_checks_server_command"] = SMOKE_SERVER
    overrides["post_checks_client_command"] = SMOKE_CLIENT
    # A drain that cannot finish gives up after a minute (test_lifecycle blocks one on purpose).
    overrides["node_drain_timeout"] = 60
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _set_aside(path: Path, name: str) -> dict[str, object]:
    """Take node `name` out of cluster.yaml (its host stays up); returns its entry."""
    data = yaml.safe_load(path.read_text())
    node = next(n for n in data["nodes"] if n["name"] == name)
    data["nodes"].remove(node)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return dict(node)


def _go_offline(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    data["offline"] = {
        "enabled": True,
        "bundle": "bundle",
        "public_key": "site.pub",
        "repo_host": "cp1",
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def git(directory: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=k8s-install-test",
            "-c",
            "user.email=test@k8s-install.invalid",
            *args,
        ],
        cwd=directory,
        check=True,
        capture_output=True,
    )


def make_bundle(live: LiveCluster, artifacts: dict[str, object], out: str, config: Path) -> None:
    """A signed bundle of these builds and of the engine release in `out`, planned from `config`
    (a cluster.yaml whose plan resolves upstream URLs: the --local-files tree mirrors those)."""
    plan_file = f"plan-{out}.yaml"
    plan_cmd = ["bundle", "plan", "-c", str(config), "-o", plan_file, "--engine-dir", ENGINE_DIR]
    must(live.cli(*plan_cmd, log=f"plan-{out}"), "bundle plan")
    art = Path(str(artifacts["dir"]))
    build = ["bundle", "build", "--plan", plan_file, "-o", out, "--key", "site.key"]
    build += ["--no-wheels", "--local-files", str(art / "files")]
    build += ["--local-images", str(art / "images")]
    with upstream_server(live.log_dir / "upstream-www") as mirror:
        build += ["--mirror", mirror]
        must(live.cli(*build, log=f"bundle-build-{out}"), "bundle build")


GATEWAY_API_CRDS_URL = (
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml"
)


@contextmanager
def upstream_server(work: Path) -> Iterator[str]:
    """nginx on loopback serving what the bundle downloads besides our builds, at the paths of
    their upstream URLs: the engine's release tarball (ENGINE_TARBALL) and the Gateway API CRDs
    (GATEWAY_API_CRDS); yields the `--mirror https://github.com=URL` pair. bundle build checks
    each against its pinned sha256, as it would a download from GitHub."""
    www = work / "www"
    shutil.rmtree(www, ignore_errors=True)
    for url, source in (
        (str(engine.pin()["tarball_url"]), ENGINE_TARBALL),
        (GATEWAY_API_CRDS_URL, GATEWAY_API_CRDS),
    ):
        target = www / url.removeprefix("https://")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    with servers.nginx(www, work / "nginx") as (base, _access_log):
        yield f"https://github.com={base}/github.com"


def logs_for(directory: Path) -> Path:
    """The log directory for a cluster repo: never inside it, since a dirty repo refuses runs."""
    default = directory.parent / f"{directory.name}-logs"
    return Path(os.environ.get(LOGS_ENV) or default)


def skip_reason() -> str:
    """Why the cluster tests cannot run here, or nothing."""
    missing = [
        name
        for name, value in (
            (engine.ENV_DIR, ENGINE_DIR),
            (ENGINE_TARBALL_ENV, ENGINE_TARBALL),
            (GATEWAY_API_CRDS_ENV, GATEWAY_API_CRDS),
        )
        if not value
    ]
    if missing:
        return (
            f"{' and '.join(missing)} not set: the cluster tests need a Kubespray v2.31.0 "
            "checkout, its release tarball and the Gateway API CRDs (.ci/run makes them from "
            "the upstream repositories; see docs/testing-boundary.md)"
        )
    if os.geteuid() != 0 or shutil.which("podman") is None:
        return "the cluster tests need root and podman (sandbox hosts)"
    return ""


def attach(name: str, directory: Path, log_dir: Path, *, spare: str = "") -> LiveCluster:
    """A kept cluster (KEEP_ENV) in `directory`, to run the tests on it again."""
    info = hosts.status(name, directory)
    if info is None:
        raise AssertionError(f"no sandbox {name} in {directory}")
    live = LiveCluster(
        directory, Path(info.cluster_file), info, build_artifacts(log_dir), {}, log_dir
    )
    if spare:
        host = next(h for h in info.hosts if h.node == spare)
        live.spare = {"name": spare, "address": host.address, "roles": host.roles}
    return live


@contextmanager
def install(
    name: str,
    directory: Path,
    log_dir: Path,
    *,
    release: str = "",
    nodes: int = 2,
    spare: str = "",
) -> Iterator[LiveCluster]:
    """prepare(), then `k8s-install up`; yields the installed cluster."""
    with prepare(name, directory, log_dir, release=release, nodes=nodes, spare=spare) as live:
        started = time.monotonic()
        must(live.cli("up", "--yes", log="up"), "k8s-install up")
        live.timings["up"] = time.monotonic() - started
        yield live


@contextmanager
def prepare(
    name: str,
    directory: Path,
    log_dir: Path,
    *,
    release: str = "",
    nodes: int = 2,
    spare: str = "",
) -> Iterator[LiveCluster]:
    """Build, start `nodes` sandbox hosts (`spare` kept out of cluster.yaml), bundle and serve;
    yields the cluster repo before any install, then removes the hosts unless KEEP_ENV is set."""
    saved = sysctls.snapshot()
    keep = bool(os.environ.get(KEEP_ENV))
    directory.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    info = None
    try:
        started = time.monotonic()
        artifacts = build_artifacts(log_dir, release)
        timings["artifacts"] = time.monotonic() - started

        started = time.monotonic()
        info = hosts.up(
            name,
            directory,
            nodes=nodes,
            kubernetes=True,
            extra_packages=("nginx", "docker-registry"),
            timeout=240,
        )
        timings["sandbox"] = time.monotonic() - started
        cluster_file = Path(info.cluster_file)
        (directory / ".gitignore").write_text(
            ".k8s-install/\n.sandbox/\nbackups/\nbundle*/\nsite.key\nplan*.yaml\ncluster-next.yaml\n"
        )
        git(directory, "init", "-q", "--initial-branch=main")
        live = LiveCluster(directory, cluster_file, info, artifacts, timings, log_dir)
        if spare:
            live.spare = _set_aside(cluster_file, spare)
        pin_builds(cluster_file, artifacts)

        started = time.monotonic()
        must(live.cli("bundle", "keygen", "-o", "site", log="keygen"), "bundle keygen")
        make_bundle(live, artifacts, "bundle", cluster_file)
        timings["bundle"] = time.monotonic() - started

        _go_offline(cluster_file)
        git(directory, "add", "cluster.yaml", ".gitignore", "site.pub")
        git(directory, "commit", "-q", "-m", "Cluster for the cluster tests")

        started = time.monotonic()
        must(live.cli("bundle", "serve", log="bundle-serve"), "bundle serve")
        timings["serve"] = time.monotonic() - started
        yield live
    finally:
        if timings:
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
            print("\ncluster timings (s): " + json.dumps({k: round(v) for k, v in timings.items()}))
        if info is not None and not keep:
            hosts.down(name, directory)
        restored = sysctls.restore(saved)
        if restored:
            print(f"\nrestored global kernel settings: {restored}")
