"""Options and helpers shared by every command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.markup import escape

from k8s_install.addons import apply as addons_apply
from k8s_install.base.errors import InvalidInput
from k8s_install.base.output import Output
from k8s_install.bundle import offline_checksums
from k8s_install.model import config
from k8s_install.model.config import Cluster

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "cluster.yaml"
RESULT_COLOURS = {"successful": "green", "interrupted": "yellow"}

# Keys in click's context meta (shared by every context of one invocation): whether the running
# command is in --json mode, and the arguments the top-level group was given.
JSON_META = "k8s_install.json_mode"
ARGS_META = "k8s_install.args"


def json_option(func: F) -> F:
    """Add --json: machine-readable output on stdout, messages on stderr."""

    @click.option("--json", "json_mode", is_flag=True, help="Print JSON for machines.")
    @functools.wraps(func)
    def wrapper(*args: Any, json_mode: bool, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        ctx.obj = Output(json_mode=json_mode or bool(ctx.find_root().params.get("json_mode")))
        ctx.meta[JSON_META] = ctx.obj.json_mode
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def config_option(func: F) -> F:
    """Add -c/--config, the cluster.yaml to read (default: ./cluster.yaml)."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_CONFIG,
        show_default=True,
        envvar="K8S_INSTALL_CONFIG",
        help="The cluster.yaml to use.",
    )(func)


def load_cluster(config_path: Path) -> Cluster:
    """cluster.yaml for a command that writes the inventory (any Ansible run does).

    With an offline bundle, the engine's checksum variables come from its manifest, so the
    inventory is the same whichever command writes it.
    """
    return offline_checksums.attach(config.load(config_path))


def check_addon_values(cluster: Cluster) -> None:
    """Stop (exit 2) before any host is touched when a chart's values.schema.json refuses a
    release's values, or a chart archive on disk is unsafe to read."""
    problems = addons_apply.value_problems(cluster)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(
            f"{cluster.path}: {len(errors)} problem(s) with the addons' charts; nothing was "
            "changed on any host",
            problems,
        )


def output() -> Output:
    """The Output of the running command."""
    ctx = click.get_current_context()
    obj = ctx.find_object(Output)
    return obj if obj is not None else Output()


def escaped(value: object) -> str:
    """Data shown inside rich markup: brackets in a task name or message must stay literal."""
    return escape(str(value))


def coloured_result(result: str) -> str:
    """A run result (successful, failed, ...) in its colour."""
    return f"[{RESULT_COLOURS.get(result, 'red')}]{result}[/]"
