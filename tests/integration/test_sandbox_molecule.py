"""Every molecule scenario (molecule/<scenario>/) end to end, one test each: create, prepare,
converge, idempotence, verify, destroy, on sandbox hosts over SSH.

The host image is the session's `sandbox_image` (built once per run, cached by podman);
molecule's create step (`sandbox up --test-image`) finds it and builds nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BASE_CONFIG = REPO / ".config" / "molecule" / "config.yml"
SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))


def _sequence(scenario: str) -> list[str]:
    """The scenario's test sequence: its own, or the base config's."""
    for path in (REPO / "molecule" / scenario / "molecule.yml", BASE_CONFIG):
        data: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
        sequence = data.get("scenario", {}).get("test_sequence")
        if sequence:
            return [str(step) for step in sequence]
    raise AssertionError(f"no test_sequence for {scenario}")


def test_every_role_has_a_scenario() -> None:
    roles = {p.name for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir()}
    # node_base's scenario is molecule/default.
    assert roles - {"node_base"} <= set(SCENARIOS), roles - set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_passes(sandbox_image: str, scenario: str) -> None:
    molecule = BIN / "molecule"
    if not molecule.exists():
        pytest.skip(f"molecule is not installed beside {sys.executable}: pip install -e '.[dev]'")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [str(molecule), "test", "--scenario-name", scenario],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-6000:]
    for step in _sequence(scenario):
        assert f"{scenario} ➜ {step}: Executed: Successful" in output, step
