"""Output for people (rich, coloured on a terminal) and machines (--json)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from k8s_install.base.errors import Problem


@dataclass
class Output:
    """Where a command writes. In JSON mode stdout carries only JSON; messages go to stderr."""

    json_mode: bool = False
    console: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    err: Console = field(
        default_factory=lambda: Console(stderr=True, highlight=False, soft_wrap=True)
    )

    def info(self, message: str) -> None:
        (self.err if self.json_mode else self.console).print(message)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def error(self, message: str, fix: str = "") -> None:
        self.err.print(f"[bold red]error:[/bold red] {escape(message)}")
        if fix:
            self.err.print(f"  [cyan]fix:[/cyan] {escape(fix)}")

    def problems(self, problems: Sequence[Problem]) -> None:
        for problem in problems:
            colour = "red" if problem.severity == "error" else "yellow"
            self.err.print(
                f"[{colour}]{problem.severity}[/{colour}] [bold]{escape(problem.path)}[/bold]: "
                f"{escape(problem.message)}"
            )
            if problem.fix:
                self.err.print(f"    [cyan]fix:[/cyan] {escape(problem.fix)}")

    def emit(self, document: Any) -> None:
        """Write one JSON document to stdout."""
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def emit_line(self, document: Any) -> None:
        """Write one JSON line (an event) to stdout."""
        sys.stdout.write(json.dumps(document, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def table(self, title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(
                *(str(cell) for cell in row)
            )  # cells may carry markup; callers escape data
        self.console.print(table)
