"""--json mode: every command prints its error as one JSON object on stdout, covered by its schema."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from k8s_install.base import output_schemas
from k8s_install.cli import cli


def _commands(command: click.Command, prefix: tuple[str, ...] = ()) -> list[tuple[str, bool]]:
    """(name, has -c) of every command with --json."""
    if isinstance(command, click.Group):
        found: list[tuple[str, bool]] = []
        for name, sub in sorted(command.commands.items()):
            found += _commands(sub, (*prefix, name))
        return found
    params = {p.name for p in command.params}
    return [(" ".join(prefix), "config_path" in params)] if "json_mode" in params else []


JSON_COMMANDS = _commands(cli)
# history and show read run records, not cluster.yaml; a missing file is no error for them.
WITH_CONFIG = [n for n, has_config in JSON_COMMANDS if has_config and n not in {"history", "show"}]


def _one_object(output: str) -> dict[str, object]:
    document = json.loads(output)  # exactly one JSON document, nothing else on stdout
    assert isinstance(document, dict)
    return document


def test_there_are_json_commands() -> None:
    assert len(JSON_COMMANDS) > 30 and len(WITH_CONFIG) > 15


@pytest.mark.parametrize("name", [c[0] for c in JSON_COMMANDS])
@pytest.mark.parametrize("flag_first", [False, True], ids=["--json after", "--json on the group"])
def test_usage_error_is_one_json_object(
    name: str, flag_first: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = (
        ["--json", *name.split(), "--no-such-flag"]
        if flag_first
        else [*name.split(), "--json", "--no-such-flag"]
    )
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    document = _one_object(result.stdout)
    assert "no-such-flag" in str(document["error"])
    assert output_schemas.errors(name, document) == []
    assert output_schemas.errors("error", document) == []


@pytest.mark.parametrize("name", WITH_CONFIG)
@pytest.mark.parametrize(
    ("content", "word"),
    [
        (None, "no such file"),
        ("a: [1\n", "invalid YAML"),
        ("name: a\nname: b\n", "duplicate"),
        ("a: &a [*a]\n", "alias"),
    ],
    ids=["missing file", "syntax error", "duplicate key", "recursive alias"],
)
def test_bad_config_is_one_json_object_with_problems(
    name: str, content: str | None, word: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "cluster.yaml"
    if content is not None:
        config.write_text(content)
    extra = {"addons remove": ["x"], "remove-node": ["x"], "restore": ["x"], "show": ["x"]}
    extra["access revoke"] = ["x"]
    extra["secrets seal"] = ["x", "-n", "apps", "--from-literal", "k=v"]
    extra["bundle verify"] = [str(tmp_path)]  # the key comes from cluster.yaml
    extra["bundle build"] = ["-o", str(tmp_path / "out"), "--key", str(config)]
    args = [*name.split(), *extra.get(name, []), "-c", str(config), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    document = _one_object(result.stdout)
    assert output_schemas.errors(name, document) == []
    problems = document["problems"]
    assert isinstance(problems, list)
    if name == "bundle verify" and content is None:
        return  # without cluster.yaml it only lacks a key, and says so
    assert problems
    assert word.lower() in json.dumps(document).lower()


def test_validate_keeps_its_own_document_on_a_load_error(tmp_path: Path) -> None:
    bad = tmp_path / "cluster.yaml"
    bad.write_text("a: [1\n")
    result = CliRunner().invoke(cli, ["validate", "-c", str(bad), "--json"])
    document = _one_object(result.stdout)
    assert document["valid"] is False and document["file"] == str(bad)
    assert output_schemas.validator("validate").is_valid(document)


def test_the_error_schema_is_published() -> None:
    result = CliRunner().invoke(cli, ["schema", "--output-of", "error"])
    assert result.exit_code == 0
    assert json.loads(result.output)["$id"].endswith("/output/error.json")
    validate_schema = json.loads(
        CliRunner().invoke(cli, ["schema", "--output-of", "validate"]).output
    )
    assert {"$ref": "error.json"} in validate_schema["anyOf"]


def test_an_error_object_never_passes_as_a_normal_document() -> None:
    error = output_schemas.error_document("x", "", 2, [])
    assert output_schemas.errors("validate", error) == []
    assert output_schemas.errors("validate", {"error": "x"}) != []


def test_without_json_errors_go_to_stderr_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "-c", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert result.stdout == "" and "no such file" in result.stderr
