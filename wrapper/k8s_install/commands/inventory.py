"""inventory: write the Kubespray inventory generated from cluster.yaml."""

from __future__ import annotations

from pathlib import Path

import click

from k8s_install.ansible import inventory
from k8s_install.commands.common import config_option, json_option, load_cluster, output


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
    cluster = load_cluster(config_path)
    directory = target or cluster.root / inventory.DIRNAME
    written = inventory.write(cluster, directory)
    if out.json_mode:
        out.emit({"directory": str(directory), "files": [str(p) for p in written]})
    else:
        for path in written:
            out.info(f"wrote {path}")


COMMANDS: list[click.Command] = [inventory_command]
