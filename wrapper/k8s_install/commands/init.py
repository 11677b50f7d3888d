"""init: create a cluster repository."""

from __future__ import annotations

from pathlib import Path

import click

from k8s_install.commands.common import json_option, output
from k8s_install.records import git_repo


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
    result = git_repo.init(directory, name)
    if out.json_mode:
        out.emit(result)
    else:
        out.info(f"created cluster repo {directory} ({result['commit'][:12]})")
        out.info(f"next: edit {directory / 'cluster.yaml'}, then `k8s-install validate`")


COMMANDS: list[click.Command] = [init]
