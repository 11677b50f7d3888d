"""Every command's --json output has a published schema, and real outputs validate against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from k8s_install.ansible.progress import execute
from k8s_install.ansible.runner import RunRequest
from k8s_install.base import output_schemas as jsonout
from k8s_install.base.output import Output
from k8s_install.cli import cli
from k8s_install.records import git_repo as gitrepo

# Commands with --json whose schema their owner has not published yet. Add a name here only
# with a reason; remove it when its schema lands in wrapper/k8s_install/data/schemas/.
PENDING: set[str] = set()


def _json_commands(command: click.Command, prefix: tuple[str, ...] = ()) -> list[str]:
    if isinstance(command, click.Group):
        found: list[str] = []
        for name, sub in sorted(command.commands.items()):
            found += _json_commands(sub, (*prefix, name))
        return found
    return [" ".join(prefix)] if any(p.name == "json_mode" for p in command.params) else []


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert jsonout.names()
    for name in jsonout.names():
        schema = jsonout.load(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(f"/output/{name}.json")
        assert schema.get("title") and schema.get("description")


def test_every_json_command_has_a_schema_or_is_listed_pending() -> None:
    commands = _json_commands(cli)
    published = set(jsonout.names())
    missing = [c for c in commands if jsonout.file_name(c)[:-5] not in published]
    assert sorted(set(missing) - PENDING) == [], "publish a schema in data/schemas/"
    stale = sorted(c for c in PENDING if jsonout.file_name(c)[:-5] in published)
    assert stale == [], "schema published: remove it from PENDING"


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("engine info", ["engine", "info", "--json"]),
        ("addons list", ["addons", "list", "--catalog", "--json"]),
        ("sandbox status", ["sandbox", "status", "--name", "absent", "--json"]),
        ("bundle keygen", ["bundle", "keygen", "--json"]),
    ],
)
def test_other_command_outputs_validate(
    command: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outputs of the other commands that need no hosts."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, [*args, *(["--dir", str(tmp_path)] if "sandbox" in args else [])]
    )
    assert result.exit_code == 0, result.output
    _valid(command, json.loads(result.output))


def test_schema_command_prints_an_output_schema() -> None:
    result = CliRunner().invoke(cli, ["schema", "--output-of", "history"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["$id"].endswith("/history.json")
    missing = CliRunner().invoke(cli, ["schema", "--output-of", "no-such-command"])
    assert missing.exit_code == 2


def _valid(command: str, document: object) -> None:
    assert jsonout.errors(command, document) == []


def test_a_wrong_document_is_rejected() -> None:
    problems = jsonout.errors("init", {"directory": "x", "name": 3})
    assert any("commit" in p for p in problems)
    assert any("name" in p for p in problems)


def test_core_command_outputs_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["init", str(tmp_path / "lab"), "--json"])
    assert created.exit_code == 0, created.output
    _valid("init", json.loads(created.output))
    config = str(tmp_path / "lab" / "cluster.yaml")
    for command in (["validate"], ["inventory"], ["plan"]):
        result = runner.invoke(cli, [*command, "-c", config, "--json"])
        assert result.exit_code == 0, result.output
        _valid(command[0], json.loads(result.output))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Not_Valid\nnodes: []\n")
    result = runner.invoke(cli, ["validate", "-c", str(bad), "--json"])
    assert result.exit_code == 2
    document = json.loads(result.output)
    assert document["problems"]
    _valid("validate", document)


def test_ping_of_an_unreachable_node_validates(tmp_path: Path) -> None:
    """A real ping run to a closed loopback port: unreachable, exit 3, schema-valid JSON."""
    gitrepo.init(tmp_path / "c", "lab")
    config = tmp_path / "c" / "cluster.yaml"
    config.write_text(
        "name: lab\nkubernetes:\n  version: '1.35.4'\n"
        "nodes:\n  - name: cp1\n    address: 127.0.0.1\n    ssh_port: 1\n"
        "    roles: [control-plane, etcd, worker]\n"
        "access:\n  host_key_checking: false\n"
    )
    result = CliRunner().invoke(cli, ["ping", "-c", str(config), "--json"])
    assert result.exit_code == 3, result.output
    document = json.loads(result.output)
    assert document["nodes"]["cp1"]["status"] == "unreachable"
    _valid("ping", document)


def test_run_event_lines_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- name: A small play\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Change something harmless\n      ansible.builtin.command:\n"
        "        cmd: 'true'\n      changed_when: true\n"
        "    - name: Fail on purpose\n      ansible.builtin.fail:\n        msg: expected\n"
    )
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    request = RunRequest(playbook=playbook, inventory=hosts, private_dir=tmp_path / "private")
    execute(request, Output(json_mode=True))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    kinds = {line["type"] for line in lines}
    assert kinds == {"event", "result"}
    for line in lines:
        _valid("run-events", line)
        _valid("up", line)  # lifecycle commands print the same lines
