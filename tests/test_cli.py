"""The CLI through click's CliRunner: init, schema, help texts, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from k8s_install.cli import cli
from k8s_install.model.schema import CLUSTER_SCHEMA


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_command_has_help_with_examples(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`k8s-install {' '.join(path)} --help` shows no examples"


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "k8s-install" in result.output


def test_unknown_option_is_invalid_input() -> None:
    assert CliRunner().invoke(cli, ["validate", "--nope"]).exit_code == 2


def test_init_creates_a_valid_cluster_repo(tmp_path: Path) -> None:
    repo = tmp_path / "lab-01"
    result = CliRunner().invoke(cli, ["init", str(repo), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["name"] == "lab-01"
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True, check=True
    ).stdout
    assert log.strip() == "Create cluster lab-01"
    assert ".k8s-install/" in (repo / ".gitignore").read_text()
    assert yaml.safe_load((repo / "cluster.yaml").read_text())["name"] == "lab-01"
    assert CliRunner().invoke(cli, ["validate", "-c", str(repo / "cluster.yaml")]).exit_code == 0
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""


def test_init_refuses_existing_cluster(tmp_path: Path) -> None:
    CliRunner().invoke(cli, ["init", str(tmp_path / "a")])
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "already exists" in result.output


def test_init_refuses_bad_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "Bad_Name")])
    assert result.exit_code == 2
    assert "--name" in result.output


def test_schema_is_valid_json_schema_and_accepts_the_sample() -> None:
    from k8s_install.base.resources import sample_cluster

    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(sample_cluster().read_text()), schema)
    assert schema == json.loads(json.dumps(CLUSTER_SCHEMA))


def test_config_reference_doc_is_current() -> None:
    """docs/config-reference.md is generated: `k8s-install schema --format markdown`."""
    doc = Path(__file__).parents[1] / "docs" / "config-reference.md"
    result = CliRunner().invoke(cli, ["schema", "--format", "markdown"])
    assert result.exit_code == 0
    assert doc.read_text() == result.output, "regenerate docs/config-reference.md"
