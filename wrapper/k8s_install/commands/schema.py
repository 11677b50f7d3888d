"""schema: the JSON Schema of cluster.yaml, its Markdown reference, and the schemas of --json outputs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from k8s_install.base import output_schemas
from k8s_install.model import reference
from k8s_install.model.schema import CLUSTER_SCHEMA


@click.command()
@click.option(
    "-o",
    "--output",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "markdown"]),
    default="json",
    show_default=True,
    help="The JSON Schema, or the Markdown config reference.",
)
@click.option(
    "--output-of",
    "output_of",
    metavar="COMMAND",
    help="Instead: the JSON Schema of COMMAND's --json output (e.g. history, 'sandbox status').",
)
def schema(target: Path | None, fmt: str, output_of: str | None) -> None:
    """Print the JSON Schema of cluster.yaml, for editor completion.

    \b
    Examples:
      k8s-install schema > cluster.schema.json
      k8s-install schema -o .vscode/cluster.schema.json
      k8s-install schema --format markdown > docs/config-reference.md
      k8s-install schema --output-of history
    """
    if output_of:
        text = json.dumps(output_schemas.load(output_of), indent=2, sort_keys=True) + "\n"
    elif fmt == "markdown":
        text = reference.markdown()
    else:
        text = json.dumps(CLUSTER_SCHEMA, indent=2, sort_keys=True) + "\n"
    if target:
        target.write_text(text)
    else:
        click.echo(text, nl=False)


COMMANDS: list[click.Command] = [schema]
