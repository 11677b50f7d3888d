"""build/smoke, the post-checks workload: `serve` answers with its host name, `get` prints
one line per request, answer or failure, and always finishes its requests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain on PATH")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke") / "smoke"
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    subprocess.run(
        ["go", "build", "-o", str(out), "."], cwd=ROOT / "build/smoke", env=env, check=True
    )
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(smoke: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([smoke, "serve", "-listen", f"127.0.0.1:{port}"])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0  # SIGTERM shuts down cleanly


def test_get_prints_the_servers_host_name_once_per_request(smoke: Path, server: str) -> None:
    out = subprocess.run(
        [smoke, "get", "-n", "3", "-interval", "0s", server],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert out.stdout.splitlines() == [socket.gethostname()] * 3


def test_get_reports_each_failure_and_still_exits_0(smoke: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/"
    out = subprocess.run(
        [smoke, "get", "-n", "2", "-timeout", "1s", "-interval", "0s", url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("failed: ") for line in lines)


def test_bad_usage_exits_2(smoke: Path) -> None:
    for args in ([], ["get"], ["get", "-n", "0", "http://x/"], ["what"]):
        proc = subprocess.run([smoke, *args], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and "usage: smoke" in proc.stderr
