"""The k8s-install command line: a click group of thin commands."""

from __future__ import annotations

import signal
from types import FrameType

import click

from k8s_install import __version__
from k8s_install.base import output_schemas
from k8s_install.base.errors import (
    ExitCode,
    InvalidInput,
    K8sInstallError,
    Problem,
    Terminated,
    interrupt_code,
)
from k8s_install.base.output import Output
from k8s_install.commands import COMMANDS
from k8s_install.commands.common import ARGS_META, JSON_META

HELP = """Install, scale, upgrade and remove Kubernetes plus its addons as one unit.

A cluster is a Git repository holding one cluster.yaml. Every command reads it,
and every command that changes a cluster records the run in that repository.

\b
Exit codes:
  0  success
  1  the run failed
  2  invalid input (nothing on any host was touched), or changes pending
     for `plan --detailed-exitcode` and `drift`
  3  hosts unreachable
  130 interrupted (Ctrl-C, SIGINT)
  143 terminated (SIGTERM, as CI runners cancel a job)

\b
Examples:
  k8s-install init my-cluster && cd my-cluster
  k8s-install validate
  k8s-install plan
  k8s-install up
"""


def _json_mode(ctx: click.Context) -> bool:
    """Whether the command asked for --json, even when it failed before its own code ran."""
    if ctx.params.get("json_mode") or ctx.meta.get(JSON_META):
        return True
    args: list[str] = ctx.meta.get(ARGS_META, [])
    return "--json" in (args[: args.index("--")] if "--" in args else args)


class _Group(click.Group):
    """Maps our errors to the documented exit codes, for CliRunner and the console script alike.

    In --json mode an error is one JSON object on stdout (schema: error.json); messages for
    people still go to stderr.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGS_META] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except InvalidInput as exc:
            self._fail(ctx, str(exc), exc.fix, exc.code, exc.problems)
        except K8sInstallError as exc:
            self._fail(ctx, str(exc), exc.fix, exc.code, [])
        except click.UsageError as exc:
            if not _json_mode(ctx):
                raise
            fix = f"see `{exc.ctx.command_path if exc.ctx else 'k8s-install'} --help`"
            self._fail(ctx, exc.format_message(), fix, ExitCode.INVALID_INPUT, [])
        except click.ClickException as exc:
            if not _json_mode(ctx):
                raise
            self._fail(ctx, exc.format_message(), "", ExitCode(exc.exit_code), [])
        except KeyboardInterrupt as exc:
            code = interrupt_code(exc)
            name = "SIGTERM" if code == ExitCode.TERMINATED else "SIGINT"
            self._fail(
                ctx, f"interrupted ({name})", "run `k8s-install up` again to resume", code, []
            )
        return None

    @staticmethod
    def _fail(
        ctx: click.Context, message: str, fix: str, code: ExitCode, problems: list[Problem]
    ) -> None:
        out = Output(json_mode=_json_mode(ctx))
        out.error(message, fix)
        out.problems(problems)
        if out.json_mode:
            out.emit(
                output_schemas.error_document(
                    message, fix, int(code), [p.as_dict() for p in problems]
                )
            )
        ctx.exit(code)


@click.group(
    cls=_Group,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="k8s-install")
@click.option("--json", "json_mode", is_flag=True, help="Print JSON for machines (any command).")
def cli(json_mode: bool) -> None:
    pass


for command in COMMANDS:
    cli.add_command(command)


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


def main() -> None:
    """Console entry point. SIGTERM stops a run as Ctrl-C does (exit 143 instead of 130); a
    SIGINT the caller ignores stays ignored, as `nohup` intends."""
    signal.signal(signal.SIGTERM, _terminate)
    cli(prog_name="k8s-install")
