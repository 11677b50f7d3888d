"""One real Kubernetes cluster for the cluster tests: built, bundled, served and installed.

The session fixture `live_cluster` runs what a site that builds from source would run:
1. scripts/artifacts/build.py: every component from Go modules (cached by its inputs);
2. `sandbox up --kubernetes`: cp1 (control plane, etcd; it also serves the bundle) and worker1;
3. `bundle keygen`, `bundle plan`, `bundle build --local-files --local-images`: a signed
   bundle of our own builds; `bundle serve` on cp1;
4. `k8s-install up --yes`: Kubespray's cluster.yml through k8s-install, offline.
This machine's global kernel settings are saved before and restored after, even on failure.
The tests skip, with the reason, only when no Kubespray checkout is given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from k8s_install.engine import kubespray as engine
from k8s_install.sandbox import hosts

from . import sysctls

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENGINE_DIR = os.environ.get(engine.ENV_DIR, "")
KEEP_ENV = "K8S_INSTALL_TEST_KEEP_CLUSTER"  # 1: leave the cluster up after the session
NAME = f"kc{os.getpid()}"
# The smoke server in our busybox image writes its pod name into the page it serves.
SMOKE_COMMAND = [
    "sh",
    "-c",
    "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www",
]


@dataclass
class LiveCluster:
    """The installed cluster: its repo, hosts, artifacts and what each step took."""

    directory: Path
    cluster_file: Path
    info: hosts.SandboxInfo
    artifacts: dict[str, object]
    timings: dict[str, float] = field(default_factory=dict)
    log_dir: Path = Path()

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


def run_logged(
    cmd: list[str], cwd: Path, log: Path, timeout: float = 3600
) -> subprocess.CompletedProcess[str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NO_COLOR": "1"}
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


def _must(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        raise AssertionError(f"{what} failed (exit {proc.returncode}):\n{_tail(proc.stdout)}")
    return proc.stdout


def _build_artifacts(log_dir: Path) -> dict[str, object]:
    proc = run_logged(
        [sys.executable, str(ROOT / "scripts/artifacts/build.py")],
        ROOT,
        log_dir / "artifacts.log",
        timeout=5400,
    )
    manifest = Path(_must(proc, "scripts/artifacts/build.py").strip().splitlines()[-1])
    data = json.loads(manifest.read_text())
    data["dir"] = str(manifest.parent)
    return dict(data)


def _pin_builds(path: Path, artifacts: dict[str, object]) -> None:
    """cluster.yaml pins the versions that were built, and checks with our smoke image."""
    data = yaml.safe_load(path.read_text())
    overrides = data.setdefault("kubespray", {})
    overrides.update(artifacts["versions"])  # type: ignore[arg-type]
    images = [str(i) for i in artifacts.get("images", [])]  # type: ignore[attr-defined]
    overrides["post_checks_image"] = next(i for i in images if "/smoke:" in i)
    overrides["post_checks_server_command"] = SMOKE_COMMAND
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _go_offline(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    data["offline"] = {
        "enabled": True,
        "bundle": "bundle",
        "public_key": "site.pub",
        "repo_host": "cp1",
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _git(directory: Path, *args: str) -> None:
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


@pytest.fixture(scope="session")
def live_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    if not ENGINE_DIR:
        pytest.skip(
            f"{engine.ENV_DIR} is not set: the cluster tests need a Kubespray v2.31.0 "
            "checkout (see docs/testing-boundary.md)"
        )
    if os.geteuid() != 0 or shutil.which("podman") is None:
        pytest.skip("the cluster tests need root and podman (sandbox hosts)")
    saved = sysctls.snapshot()
    keep = bool(os.environ.get(KEEP_ENV))
    # A kept cluster keeps its repo too (pytest rotates its temporary directories).
    directory = Path(f"/var/tmp/k8s-install-{NAME}") if keep else tmp_path_factory.mktemp("cluster")
    directory.mkdir(parents=True, exist_ok=True)
    log_dir = Path(os.environ.get("K8S_INSTALL_CLUSTER_LOGS", directory / "logs"))
    timings: dict[str, float] = {}
    info = None
    try:
        started = time.monotonic()
        artifacts = _build_artifacts(log_dir)
        timings["artifacts"] = time.monotonic() - started

        started = time.monotonic()
        info = hosts.up(
            NAME,
            directory,
            nodes=2,
            kubernetes=True,
            extra_packages=("nginx", "docker-registry"),
            timeout=240,
        )
        timings["sandbox"] = time.monotonic() - started
        cluster_file = Path(info.cluster_file)
        (directory / ".gitignore").write_text(
            ".k8s-install/\n.sandbox/\nbackups/\nbundle/\nsite.key\nplan.yaml\n"
        )
        _git(directory, "init", "-q", "--initial-branch=main")
        live = LiveCluster(directory, cluster_file, info, artifacts, timings, log_dir)

        _pin_builds(cluster_file, artifacts)
        # The plan is resolved before offline is on, so its URLs are upstream's: the
        # --local-files tree mirrors those.
        started = time.monotonic()
        _must(live.cli("bundle", "keygen", "-o", "site", log="keygen"), "bundle keygen")
        _must(
            live.cli("bundle", "plan", "-o", "plan.yaml", "--engine-dir", ENGINE_DIR, log="plan"),
            "bundle plan",
        )
        plan = yaml.safe_load((directory / "plan.yaml").read_text())
        plan["engine"] = None  # the engine comes from the checkout (K8S_INSTALL_KUBESPRAY_DIR)
        (directory / "plan.yaml").write_text(yaml.safe_dump(plan))
        art = Path(str(artifacts["dir"]))
        build = ["bundle", "build", "--plan", "plan.yaml", "-o", "bundle", "--key", "site.key"]
        build += ["--no-wheels", "--local-files", str(art / "files")]
        build += ["--local-images", str(art / "images")]
        _must(live.cli(*build, log="bundle-build"), "bundle build")
        timings["bundle"] = time.monotonic() - started

        _go_offline(cluster_file)
        _git(directory, "add", "cluster.yaml", ".gitignore", "site.pub")
        _git(directory, "commit", "-q", "-m", "Cluster for the cluster tests")

        started = time.monotonic()
        _must(live.cli("bundle", "serve", log="bundle-serve"), "bundle serve")
        timings["serve"] = time.monotonic() - started

        started = time.monotonic()
        _must(live.cli("up", "--yes", "--engine-dir", ENGINE_DIR, log="up"), "k8s-install up")
        timings["up"] = time.monotonic() - started
        yield live
    finally:
        if info is not None and not keep:
            hosts.down(NAME, directory)
        restored = sysctls.restore(saved)
        if restored:
            print(f"\nrestored global kernel settings: {restored}")
