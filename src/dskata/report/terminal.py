"""The terminal summary ``dskata grade`` prints: checks, score, scorecard, what to replay.

Every value is passed to rich as ``Text``, never as markup, because check titles,
summaries and replay commands may contain square brackets (or candidate output).
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dskata.report import _format
from dskata.results import Report

STATUS_STYLES: dict[str, str] = {
    "passed": "green",
    "failed": "bold red",
    "timed_out": "yellow",
    "crashed": "red",
    "resource_exceeded": "magenta",
    "not_attempted": "dim",
    "tampered": "bold magenta",
    "infra_error": "bold yellow",
}
LEVEL_STYLES: dict[str, str] = {
    "exceeds bar": "bold green",
    "meets bar": "bold",
    "below bar": "bold red",
    "not measured": "dim",
}


def print_summary(report: Report, console: Console) -> None:
    """Prints the summary of ``report`` to ``console``."""
    if report.infra_error:
        console.print(
            Text(
                f"Infra error — the kit failed, not the candidate: {report.infra_error}",
                style="bold black on yellow",
            )
        )
    console.print(_checks_table(report))
    console.print(
        Text.assemble(
            ("Score: ", "bold"),
            (f"{_format.num(report.score)} / {_format.num(report.max_score)}", "bold cyan"),
            f"  ({report.exercise} {report.exercise_version}, parts {_format.parts(report)}, "
            f"seeds {report.seed_profile}, isolation {report.isolation})",
        )
    )
    console.print(_scorecard_table(report))
    failed = report.failed_checks
    if failed:
        console.print(Text("Did not pass:", style="bold"))
    for check in failed:
        summary = check.evidence.summary if check.evidence else "no evidence recorded"
        console.print(
            Text.assemble(
                "  ",
                (check.id, "bold"),
                " ",
                (_format.status_word(check.status), STATUS_STYLES.get(check.status, "")),
                ": ",
                _format.one_line(summary),
            )
        )
        if check.replay:
            # soft_wrap: a replay command must stay one copy-pasteable line.
            console.print(Text.assemble("    replay: ", (check.replay, "cyan")), soft_wrap=True)


def _checks_table(report: Report) -> Table:
    table = Table(title=f"{report.exercise}: checks", box=box.SIMPLE_HEAD)
    table.add_column("Check", no_wrap=True)
    table.add_column("Part", justify="right")
    table.add_column("Dimension", no_wrap=True)
    table.add_column("Points", justify="right", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Title", overflow="ellipsis", no_wrap=True)
    for check in report.checks:
        table.add_row(
            Text(check.id),
            Text(str(check.part)),
            Text(check.dimension),
            Text(_format.points(check)),
            Text(_format.status_word(check.status), style=STATUS_STYLES.get(check.status, "")),
            Text(_format.one_line(check.title)),
        )
    return table


def _scorecard_table(report: Report) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("Scorecard row")
    table.add_column("Level", no_wrap=True)
    for row, level in report.scorecard.items():
        table.add_row(Text(row), Text(level, style=LEVEL_STYLES.get(level, "")))
    return table
