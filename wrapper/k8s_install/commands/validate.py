"""validate: check cluster.yaml without contacting any host."""

from __future__ import annotations

from pathlib import Path

import click

from k8s_install.addons.apply import value_problems
from k8s_install.base.errors import ExitCode, InvalidInput, Problem
from k8s_install.commands.common import config_option, json_option, output
from k8s_install.model import config, yamlfile
from k8s_install.model.schema import TOP_LEVEL_KEYS
from k8s_install.model.validate import problems_in


@click.command()
@config_option
@json_option
def validate(config_path: Path) -> None:
    """Check cluster.yaml without contacting any host.

    Every problem is reported in one pass, with its field path and the fix.
    Addon values are checked against their charts' values.schema.json when the
    charts are on disk (--charts-dir dirs, K8S_INSTALL_CHARTS, the offline bundle,
    the chart cache); nothing is downloaded.
    Exits 0 when valid (warnings allowed), 2 when not.

    \b
    Examples:
      k8s-install validate
      k8s-install validate -c clusters/prod/cluster.yaml --json
    """
    out = output()
    try:
        doc = yamlfile.load(config_path, TOP_LEVEL_KEYS)
    except InvalidInput as exc:
        if not out.json_mode:
            raise
        # The file cannot be read or parsed: still the validate document, with why.
        problems = exc.problems or [Problem(str(config_path), str(exc), exc.fix)]
        out.emit(
            {"file": str(config_path), "valid": False, "problems": [p.as_dict() for p in problems]}
        )
        out.error(str(exc), exc.fix)
        raise click.exceptions.Exit(ExitCode.INVALID_INPUT) from None
    problems = problems_in(doc)
    if not [p for p in problems if p.severity == "error"]:
        # The charts on disk (never fetched) check the values against their schemas.
        problems += value_problems(config.from_document(doc, config_path))
    errors = [p for p in problems if p.severity == "error"]
    if out.json_mode:
        out.emit(
            {
                "file": str(config_path),
                "valid": not errors,
                "problems": [p.as_dict() for p in problems],
            }
        )
    else:
        out.problems(problems)
        if errors:
            out.error(f"{config_path}: {len(errors)} problem(s); nothing was changed on any host")
        else:
            out.info(f"[green]✓[/green] {config_path} is valid")
    if errors:
        raise click.exceptions.Exit(ExitCode.INVALID_INPUT)


COMMANDS: list[click.Command] = [validate]
