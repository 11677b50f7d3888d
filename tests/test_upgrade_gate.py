"""upgrade.yml refuses to start while a node is not Ready, unless the CLI passes
--allow-not-ready: its real assertion task, run by ansible-playbook on localhost against the
node lines kubectl prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s_install.base.resources import playbook

VENV_BIN = Path(sys.executable).parent


def _assert_task() -> dict[str, Any]:
    plays = yaml.safe_load(playbook("upgrade.yml").read_text())
    tasks = next(
        p for p in plays if p.get("name") == "Check the upgrade step against the live cluster"
    )
    return next(
        t for t in tasks["tasks"] if t["name"].startswith("Assert that every node is Ready")
    )


def _run(tmp_path: Path, lines: list[str], allow: bool) -> subprocess.CompletedProcess[str]:
    task = {k: v for k, v in _assert_task().items() if k != "run_once"}
    play = [
        {
            "name": "Gate",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {
                "upgrade__nodes": {"stdout_lines": lines},
                "k8s_install_upgrade_allow_not_ready": allow,
            },
            "tasks": [task],
        }
    ]
    path = tmp_path / "gate.yml"
    path.write_text(yaml.safe_dump(play))
    env = {
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    return subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            str(path),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("lines", "allow", "refused"),
    [
        (["cp1=True", "worker1=True"], False, ""),
        (["cp1=True", "worker1=False"], False, "nodes not Ready: worker1."),
        (["cp1=True", "worker1=Unknown", "worker2="], False, "nodes not Ready: worker1, worker2."),
        (["cp1=True", "worker1=False"], True, ""),
    ],
)
def test_a_node_that_is_not_ready_stops_the_upgrade_unless_allowed(
    tmp_path: Path, lines: list[str], allow: bool, refused: str
) -> None:
    result = _run(tmp_path, lines, allow)
    if refused:
        assert result.returncode != 0
        assert refused in result.stdout and "--allow-not-ready" in result.stdout
    else:
        assert result.returncode == 0, result.stdout + result.stderr
