"""The k8s-install command line: a click group of thin commands."""

from __future__ import annotations

import click

from k8s_install import __version__
from k8s_install.base.errors import ExitCode, InvalidInput, K8sInstallError
from k8s_install.base.output import Output
from k8s_install.commands import COMMANDS

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
  130 interrupted (Ctrl-C)

\b
Examples:
  k8s-install init my-cluster && cd my-cluster
  k8s-install validate
  k8s-install plan
  k8s-install up
"""


class _Group(click.Group):
    """Maps our errors to the documented exit codes, for CliRunner and the console script alike."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except InvalidInput as exc:
            out = Output()
            out.error(str(exc), exc.fix)
            out.problems(exc.problems)
            ctx.exit(exc.code)
        except K8sInstallError as exc:
            Output().error(str(exc), exc.fix)
            ctx.exit(exc.code)
        except KeyboardInterrupt:
            Output().error("interrupted")
            ctx.exit(ExitCode.INTERRUPTED)
        return None


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


def main() -> None:
    """Console entry point."""
    cli(prog_name="k8s-install")
