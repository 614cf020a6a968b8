"""What ``dskata grade --batch`` shows while it runs and when it ends.

On a terminal: a rich progress bar for the batch and one for each grading under way
(its checks), with a line printed above the bars as each submission finishes. Not on
a terminal (CI, a pipe): one plain line per finished submission, nothing else.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from dskata.batch import BatchResult, Entry, Outcome
from dskata.report import _format

KIND_STYLES = {
    "graded": "green",
    "skipped": "cyan",
    "error": "bold red",
    "kit_error": "bold yellow",
}
KIND_WORDS = {
    "graded": "graded",
    "skipped": "up to date",
    "error": "not graded",
    "kit_error": "kit failed",
}


def outcome_line(outcome: Outcome) -> str:
    score = f", score {_format.num(outcome.report.score)}" if outcome.report else ""
    why = f": {outcome.message}" if outcome.message and outcome.kind != "skipped" else ""
    return f"{outcome.entry.label}: {KIND_WORDS[outcome.kind]}{score}{why}"


class BatchProgress:
    """The batch's listener (see ``dskata.batch.Listener``) and its display."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        self.lines = not quiet and not console.is_terminal
        self.quiet = quiet
        self.done = 0
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet or self.lines,
        )
        self.overall = self.bar.add_task("[bold]batch[/]", total=None)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> BatchProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def __call__(self, kind: str, entry: Entry, data: object) -> None:
        if kind == "total" and isinstance(data, int):
            self.bar.update(self.overall, total=data)
        elif kind == "start":
            self.tasks[entry.label] = self.bar.add_task(f"  {entry.label}", total=None)
        elif kind == "check" and isinstance(data, dict):
            task = self.tasks.get(entry.label)
            if task is not None:
                if "total" in data:
                    self.bar.update(task, total=float(str(data["total"])))
                else:
                    self.bar.update(task, advance=1)
        elif kind == "done" and isinstance(data, Outcome):
            self.done += 1
            task = self.tasks.pop(entry.label, None)
            if task is not None:
                self.bar.remove_task(task)
            self.bar.update(self.overall, completed=self.done)
            line = f"[{self.done}] {outcome_line(data)}"
            if self.lines:
                click.echo(line, err=True)
            elif not self.quiet:
                self.bar.console.print(Text(line, style=KIND_STYLES[data.kind]))


def print_batch_summary(result: BatchResult, console: Console, out: Path) -> None:
    table = Table(title="batch", box=box.SIMPLE_HEAD)
    for column in ("submission", "status", "score", "note"):
        table.add_column(column)
    for o in result.outcomes:
        table.add_row(
            Text(o.entry.label),
            Text(KIND_WORDS[o.kind], style=KIND_STYLES[o.kind]),
            Text(_format.num(o.report.score) if o.report else "—"),
            Text(_format.one_line(o.message) if o.kind != "skipped" else ""),
        )
    console.print(table)
    if result.ignored:
        console.print(Text(f"Ignored (not a submission): {', '.join(result.ignored)}", style="dim"))
    counts = {k: len(result.of(k)) for k in KIND_WORDS}  # type: ignore[arg-type]
    console.print(
        Text(
            f"{counts['graded']} graded, {counts['skipped']} up to date, "
            f"{counts['error']} not graded, {counts['kit_error']} kit failures; "
            f"reports in {out}/<label>/, summary in {out}/batch.json"
        ),
        soft_wrap=True,
    )
    for path in result.compare_files:
        if path.suffix == ".html":
            console.print(Text(f"Committee comparison: {path}"), soft_wrap=True)
    for o in result.of("kit_error"):
        console.print(
            Text(
                f"kit failure (not the candidate's fault) in {o.entry.label}: {o.message}",
                style="bold red",
            ),
            soft_wrap=True,
        )
