"""Small, pure formatting rules shared by the Markdown, HTML and terminal writers.

Keeping them in one place is what makes the three views print the same numbers.
"""

from __future__ import annotations

import re

from dskata.results import STATUS_WORDS, CheckResult, DimensionScore, Report
from dskata.scoring import earned_points

# What an interviewer may ask about a dimension that lost points: a starting point for
# the debrief, keyed by dimension so a new dimension only needs a new line here.
DEBRIEF_PROMPTS: dict[str, str] = {
    "correctness": "Walk through the failing example by hand: what does the contract say, "
    "and where does the code disagree?",
    "concurrency": "Which state do concurrent callers share, and what makes each "
    "read-modify-write on it atomic?",
    "integrity": "How does the design make sure nothing is lost, applied twice or served stale?",
    "resilience": "What should happen when this fault hits, what does the code do instead, "
    "and how would you notice in production?",
    "performance": "Where do the time and memory go, and how would you measure it?",
    "testing": "Which behaviours do your own tests pin down, and which bug would they miss?",
    "code health": "What would you clean up first before this went to production?",
}


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


def gfm_anchor(check_id: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading that is just
    ``check_id``: ``RL-BURST`` → ``rl-burst``. Markdown needs no HTML for it."""
    return re.sub(r"[^\w\- ]", "", check_id.lower()).replace(" ", "-")


def text_bar(dim: DimensionScore, width: int = 10) -> str:
    """``██████░░░░``: the share of a dimension's points earned, for plain-text tables."""
    if dim.max_score <= 0:
        return ""
    full = round(width * dim.score / dim.max_score)
    return "█" * full + "░" * (width - full)


def percent(value: float, out_of: float) -> float:
    """``value`` as a percentage of ``out_of`` (0 when there is nothing to earn)."""
    return 100.0 * value / out_of if out_of > 0 else 0.0


def level_class(level: str) -> str:
    """A CSS class for a scorecard level: ``"meets bar"`` → ``"level-meets"``."""
    return "level-" + level.split()[0]


def measured(report: Report) -> dict[str, DimensionScore]:
    """The dimensions this grading had points for, in report order."""
    return {k: v for k, v in report.dimensions.items() if v.max_score > 0}


def unmeasured(report: Report) -> list[str]:
    return [k for k, v in report.dimensions.items() if v.max_score <= 0]


def debrief(report: Report) -> list[tuple[str, str, list[str]]]:
    """(dimension, question, check ids) for every dimension that lost points.

    Checks left not attempted are not asked about here; the page lists them apart.
    """
    lost: dict[str, list[str]] = {}
    for check in report.failed_checks:
        if check.status not in ("not_attempted", "infra_error"):
            lost.setdefault(check.dimension, []).append(check.id)
    order = list(report.dimensions)
    ranked = sorted(lost, key=lambda d: order.index(d) if d in order else len(order))
    return [(d, DEBRIEF_PROMPTS.get(d, "Ask about these checks."), lost[d]) for d in ranked]


def not_attempted(report: Report) -> list[CheckResult]:
    return [c for c in report.checks if c.status == "not_attempted"]
