"""Live progress and the recap: a status line for people, JSON lines for machines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from k8s_install.ansible.events import Event
from k8s_install.ansible.runner import RunRequest, RunResult, run_playbook
from k8s_install.base.output import Output

COLOURS = {
    "ok": "green",
    "changed": "yellow",
    "failed": "red",
    "unreachable": "magenta",
    "skipped": "cyan",
    "ignored": "yellow",
}


@dataclass
class Progress:
    """Renders events as they come: one live panel on a terminal, plain lines otherwise."""

    out: Output
    started: float = field(default_factory=time.monotonic)
    play: str = ""
    task: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    live: Live | None = None

    def __call__(self, event: Event) -> None:
        if self.out.json_mode:
            self.out.emit_line({"type": "event", **event.as_dict()})
            return
        if event.kind == "play":
            self.play = event.play
            self._print(f"[bold]PLAY[/bold] {escape(event.play)}")
        elif event.kind == "task":
            self.task = event.task
            if self.live is None:
                self._print(f"  [dim]{self._elapsed()}[/dim] {escape(event.task)}")
        else:
            host = self.counts.setdefault(event.host, {})
            host[event.kind] = host.get(event.kind, 0) + 1
            if event.kind in ("failed", "unreachable"):
                self._print(
                    f"  [{COLOURS[event.kind]}]{event.kind}[/] {escape(event.host)}: "
                    f"{escape(event.task)}: {escape(event.message)}"
                )
        if self.live is not None:
            self.live.update(self._panel())

    def _print(self, text: str) -> None:
        console = self.live.console if self.live is not None else self.out.console
        console.print(text)

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def _panel(self) -> Group:
        line = Text.from_markup(
            f"[dim]{self._elapsed()}[/dim] [bold]{escape(self.play)}[/bold] > {escape(self.task)}"
        )
        hosts = Text()
        for name, counts in sorted(self.counts.items()):
            parts = " ".join(f"[{COLOURS[k]}]{k}={v}[/]" for k, v in sorted(counts.items()))
            hosts.append_text(Text.from_markup(f"  {escape(name)}: {parts}\n"))
        return Group(line, hosts)


def execute(request: RunRequest, out: Output) -> RunResult:
    """Run a playbook with live progress, then print (or emit) the recap."""
    progress = Progress(out)
    if out.console.is_terminal and not out.json_mode:
        with Live(
            progress._panel(), console=out.console, refresh_per_second=4, transient=True
        ) as live:
            progress.live = live
            result = run_playbook(request, progress)
    else:
        result = run_playbook(request, progress)
    show_recap(result, out)
    return result


def show_recap(result: RunResult, out: Output) -> None:
    if out.json_mode:
        out.emit_line({"type": "result", **result.as_dict()})
        return
    table = Table(title=f"Recap of {result.command} ({result.run_id})", title_justify="left")
    for column in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
        table.add_column(column, justify="left" if column == "host" else "right")
    for name, stats in sorted(result.hosts.items()):
        table.add_row(
            escape(name),
            str(stats.ok),
            str(stats.changed),
            str(stats.failures),
            str(stats.unreachable),
            str(stats.skipped),
        )
    out.console.print(table)
    if result.slowest:
        slow = Table(title="Slowest tasks", title_justify="left")
        for column in ("seconds", "host", "task"):
            slow.add_column(column, justify="right" if column == "seconds" else "left")
        for timing in result.slowest:
            slow.add_row(f"{timing.seconds:.1f}", escape(timing.host), escape(timing.task))
        out.console.print(slow)
    colour = {"successful": "green", "interrupted": "yellow"}.get(result.status, "red")
    out.console.print(
        f"[{colour}]{result.status}[/]: {result.command} "
        f"({result.changed} changed, {result.failed} failed) "
        f"log: {escape(str(result.artifacts))}"
    )
    if result.stopped_at:
        out.console.print(
            f"[yellow]stopped at {escape(result.stopped_at)}[/]; re-run the same command to continue"
        )
