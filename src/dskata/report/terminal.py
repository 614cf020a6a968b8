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


def _redis_words(report: Report) -> str:
    return f", Redis {report.redis['source']} {report.redis['version']}" if report.redis else ""


def print_summary(report: Report, console: Console) -> None:
    """Prints the summary of ``report`` to ``console``."""
    if report.infra_error:
        console.print(
            Text(
                f"Infra error — the kit failed, not the candidate: {report.infra_error}",
                style="bold black on yellow",
            )
        )
    console.print(_checks_table(report, console.width))
    console.print(
        Text.assemble(
            ("Score: ", "bold"),
            (f"{_format.num(report.score)} / {_format.num(report.max_score)}", "bold cyan"),
            f"  ({report.exercise} {report.exercise_version}, parts {_format.parts(report)}, "
            f"seeds {report.seed_profile}, isolation {report.isolation}"
            f"{' (DEGRADED)' if report.isolation_degraded else ''}{_redis_words(report)})",
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


def _checks_table(report: Report, width: int) -> Table:
    table = Table(title=f"{report.exercise}: checks", box=box.SIMPLE_HEAD)
    # Few short columns so that an 80-column terminal shortens only the title; the
    # part and dimension of each check are in report.md.
    widest_id = max((len(c.id) for c in report.checks), default=5)
    table.add_column("Check", no_wrap=True, min_width=widest_id)
    table.add_column("Points", justify="right", no_wrap=True, min_width=7)
    table.add_column("Status", no_wrap=True, min_width=9)
    # rich drops whole columns rather than shorten a long no-wrap one: cap the title.
    room = width - widest_id - 7 - len("resource exceeded") - 12
    table.add_column("Title", overflow="ellipsis", no_wrap=True, max_width=max(12, room))
    for check in report.checks:
        table.add_row(
            Text(check.id),
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
