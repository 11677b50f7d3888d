"""Every entry point of every role validates its arguments (meta/argument_specs.yml).

Each entry point is called once with one variable of the wrong type; the role's own
argument validation must fail, naming that variable. One ansible-playbook run for all of them.
The target is an address that answers nothing (192.0.2.0/24): should a validation ever pass,
the role's first real task finds the host unreachable and touches nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# A value that cannot be converted to each type (strings convert from anything, so a role
# is tested through an option of one of these types).
WRONG: dict[str, Any] = {
    "int": "not-a-number",
    "float": "not-a-number",
    "bool": "maybe",
    "dict": 42,
    "list": {"not": "a list"},
}


def _entry_points() -> list[tuple[str, str, str, str]]:
    """(role, entry point, variable, its type) for every entry point of every role."""
    found = []
    for spec_file in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        role = spec_file.parents[1].name
        specs = yaml.safe_load(spec_file.read_text())["argument_specs"]
        for entry, spec in specs.items():
            options = spec.get("options") or {}
            typed = [(n, o["type"]) for n, o in options.items() if o.get("type") in WRONG]
            assert typed, f"{role} {entry}: no option of type {', '.join(WRONG)} to break"
            # Prefer a scalar type: its conversion error is the clearest.
            typed.sort(key=lambda item: list(WRONG).index(item[1]))
            found.append((role, entry, *typed[0]))
    return found


ENTRY_POINTS = _entry_points()


def _playbook(results: Path) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    for role, entry, variable, kind in ENTRY_POINTS:
        include: dict[str, Any] = {"name": role}
        if entry != "main":
            include["tasks_from"] = entry
        tasks.append(
            {
                "name": f"{role} {entry} with {variable} not a {kind}",
                "ignore_unreachable": True,
                "block": [
                    {
                        "name": f"Include {role}",
                        "ansible.builtin.include_role": include,
                        "vars": {variable: WRONG[kind]},
                    }
                ],
                "rescue": [
                    {
                        "name": f"Record how {role} {entry} failed",
                        "ansible.builtin.set_fact": {
                            "spec_results": "{{ spec_results | combine({'"
                            + f"{role} {entry}"
                            + "': {'msg': ansible_failed_result.msg | default(''), "
                            "'errors': ansible_failed_result.argument_errors | default([]), "
                            "'context': ansible_failed_result.validate_args_context "
                            "| default({})}}) }}"
                        },
                    }
                ],
            }
        )
    tasks.append(
        {
            "name": "Write the results",
            "ansible.builtin.copy": {
                "content": "{{ spec_results | to_json }}",
                "dest": str(results),
                "mode": "0600",
            },
            "delegate_to": "localhost",
        }
    )
    return [
        {
            "name": "Call every role entry point with a wrong-typed variable",
            "hosts": "nowhere",
            "gather_facts": False,
            "vars": {"spec_results": {}},
            "tasks": tasks,
        }
    ]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("argument-specs")
    (tmp / "play.yml").write_text(yaml.safe_dump(_playbook(tmp / "results.json")))
    (tmp / "inventory.yml").write_text(
        # In the groups the roles' defaults name, so only the wrong type can fail them.
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {"nowhere": {"ansible_host": "192.0.2.1", "ip": "192.0.2.1"}},
                    "children": {
                        group: {"hosts": {"nowhere": None}}
                        for group in ("kube_control_plane", "etcd", "k8s_cluster")
                    },
                }
            }
        )
    )
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_TIMEOUT": "2",
        "ANSIBLE_HOST_KEY_CHECKING": "true",
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "inventory.yml", "play.yml"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    data: dict[str, Any] = json.loads((tmp / "results.json").read_text())
    return data


@pytest.mark.parametrize(
    ("role", "entry", "variable", "kind"),
    ENTRY_POINTS,
    ids=[f"{role}-{entry}" for role, entry, _, _ in ENTRY_POINTS],
)
def test_wrong_type_fails_in_the_roles_own_validation(
    results: dict[str, Any], role: str, entry: str, variable: str, kind: str
) -> None:
    result = results.get(f"{role} {entry}")
    assert result, f"{role} {entry} accepted {variable}={WRONG[kind]!r} (not a {kind})"
    assert result["context"].get("name") == role, result
    assert result["context"].get("argument_spec_name") == entry, result
    named = [e for e in result["errors"] if f"argument '{variable}' is of type" in e]
    assert named, result
    assert f"we were unable to convert to {kind}" in named[0], named
