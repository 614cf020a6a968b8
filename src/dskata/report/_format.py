"""Small, pure formatting rules shared by the Markdown, HTML and terminal writers.

Keeping them in one place is what makes the three views print the same numbers.
"""

from __future__ import annotations

import re

from dskata.results import STATUS_WORDS, CheckResult, Report
from dskata.scoring import earned_points


def num(value: float) -> str:
    """``5.0`` → ``"5"``, ``87.5`` → ``"87.5"``, ``2.3333`` → ``"2.33"``."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def seconds(value: float) -> str:
    """A duration for people: ``"0.4 s"``, ``"2 min 5 s"``."""
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s"


def short_sha(digest: str) -> str:
    """The first 12 hex digits, enough to tell seed profiles apart at a glance."""
    return digest[:12] if digest else "unknown"


def status_word(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def anchor(check_id: str) -> str:
    """A stable in-page anchor for a check: ``RL-BURST`` → ``check-rl-burst``."""
    return "check-" + re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-")


def one_line(text: str) -> str:
    """Collapses whitespace so a value cannot break a list item or a table row."""
    return " ".join(text.split())


def points(check: CheckResult) -> str:
    """``"0 / 5"``: what the check counted for, by the same rule the score used."""
    return f"{num(earned_points(check))} / {num(check.max_points)}"


def passed_checks(report: Report) -> list[CheckResult]:
    return [c for c in report.checks if c.status == "passed"]


def parts(report: Report) -> str:
    return ", ".join(str(p) for p in report.parts) or "none"
