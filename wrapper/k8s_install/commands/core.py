"""validate, schema, inventory, init: the commands that never contact a host."""

from __future__ import annotations

import json
from pathlib import Path

import click

from k8s_install import config, gitrepo, inventory, jsonout, schemadoc, yamlfile
from k8s_install.commands.common import config_option, json_option, output
from k8s_install.errors import ExitCode, InvalidInput, Problem
from k8s_install.schema import CLUSTER_SCHEMA, TOP_LEVEL_KEYS
from k8s_install.validate import problems_in


@click.command()
@config_option
@json_option
def validate(config_path: Path) -> None:
    """Check cluster.yaml without contacting any host.

    Every problem is reported in one pass, with its field path and the fix.
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
        text = json.dumps(jsonout.load(output_of), indent=2, sort_keys=True) + "\n"
    elif fmt == "markdown":
        text = schemadoc.markdown()
    else:
        text = json.dumps(CLUSTER_SCHEMA, indent=2, sort_keys=True) + "\n"
    if target:
        target.write_text(text)
    else:
        click.echo(text, nl=False)


@click.command("inventory")
@config_option
@json_option
@click.option(
    "-o",
    "--output",
    "target",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write (default: inventory/ beside cluster.yaml).",
)
def inventory_command(config_path: Path, target: Path | None) -> None:
    """Write the Kubespray inventory (hosts.yaml and group_vars/) from cluster.yaml.

    The output is byte-identical for the same input, so it diffs cleanly in Git.

    \b
    Examples:
      k8s-install inventory
      k8s-install inventory -o /tmp/inv --json
    """
    out = output()
    cluster = config.load(config_path)
    directory = target or cluster.root / inventory.DIRNAME
    written = inventory.write(cluster, directory)
    if out.json_mode:
        out.emit({"directory": str(directory), "files": [str(p) for p in written]})
    else:
        for path in written:
            out.info(f"wrote {path}")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Cluster name (default: the directory name).")
@json_option
def init(directory: Path, name: str | None) -> None:
    """Create a cluster repository: git init, a sample cluster.yaml, .gitignore, first commit.

    \b
    Examples:
      k8s-install init clusters/prod
      k8s-install init lab --name lab-01
    """
    out = output()
    result = gitrepo.init(directory, name)
    if out.json_mode:
        out.emit(result)
    else:
        out.info(f"created cluster repo {directory} ({result['commit'][:12]})")
        out.info(f"next: edit {directory / 'cluster.yaml'}, then `k8s-install validate`")


COMMANDS = [validate, schema, inventory_command, init]
