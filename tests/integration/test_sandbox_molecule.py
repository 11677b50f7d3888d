"""molecule/default (roles/node_base) end to end: create, converge, idempotence, verify."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_molecule_default_scenario_passes(sandbox_image: str) -> None:
    molecule = BIN / "molecule"
    if not molecule.exists():
        pytest.skip(f"molecule is not installed beside {sys.executable}: pip install -e '.[dev]'")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [str(molecule), "test", "--scenario-name", "default"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-6000:]
    for step in ("create", "prepare", "converge", "idempotence", "verify", "destroy"):
        assert f"{step}: Executed: Successful" in output, step
