"""A fixed, synthetic Report shared by the report, export and comparison tests, and the
golden-file helper. Nothing here times anything: the same call gives the same bytes."""

from __future__ import annotations

import os
from pathlib import Path

from dskata.catalog import NOT_MEASURED, Exercise, Part, Threshold
from dskata.results import CheckResult, Evidence, Mark, Report, Span, Status, Timeline
from dskata.scoring import score

GOLDEN_DIR = Path(__file__).parent / "golden"
SEED_SHA = "3f2a9c4be1d07788a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
SUBMISSION_SHA = "0123456789abcdef" * 4


def golden(name: str, text: str) -> None:
    """Asserts ``text`` equals golden file ``name``; DSKATA_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN_DIR / name
    if os.environ.get("DSKATA_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden file {name}: rerun with DSKATA_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if intended, rerun with DSKATA_UPDATE_GOLDEN=1 and review the diff"
    )


def _check(
    id: str,
    title: str,
    part: int,
    dimension: str,
    max_points: float,
    status: Status,
    evidence: Evidence | None = None,
) -> CheckResult:
    return CheckResult(
        id=id,
        title=title,
        part=part,
        dimension=dimension,
        points=max_points if status == "passed" else 0.0,
        max_points=max_points,
        status=status,
        evidence=evidence,
        replay=f"dskata grade ./alice --seeds default --check {id}",
        duration_s=0.4,
    )


RACE = Timeline(
    lanes=["thread 0", "thread 1", "thread 2"],
    spans=[
        Span(0, 0.0, 2.0, "holding", "read tokens=2"),
        Span(1, 0.5, 2.5, "holding", "read tokens=2"),
        Span(2, 1.0, 3.0, "holding", "read tokens=1"),
    ],
    marks=[
        Mark(2.0, "allowed", "ok", 0),
        Mark(2.5, "allowed", "ok", 1),
        Mark(3.0, "allowed", "ok", 2),
        Mark(0.0, "barrier opens", "event", None),
        Mark(3.0, "3 allowed > burst 2", "wrong", None),
    ],
    unit="step",
    title="Three threads race on key 'k'",
)


EXERCISE = Exercise(
    slug="rate_limiter",
    title="Rate limiter",
    version="1.2.0",
    module="rate_limiter.py",
    summary="",
    parts=(Part(1, "Local", 30), Part(2, "Distributed", 30)),
    rubric={"Distributed system design (failure handling)": Threshold(0.5, 0.75)},
)


def with_statuses(report: Report, **statuses: Status) -> Report:
    """``report`` with some checks' statuses changed (``RL_THREADS="passed"``), rescored."""
    for check in report.checks:
        status = statuses.get(check.id.replace("-", "_"))
        if status is not None:
            check.status = status
            check.points = check.max_points if status == "passed" else 0.0
            if status == "passed":
                check.evidence = None
    scored = score(report.checks, EXERCISE)
    report.score, report.dimensions, report.scorecard = (
        scored.score,
        scored.dimensions,
        scored.scorecard,
    )
    return report


def make_report(infra_error: str | None = None, submission: str = "alice") -> Report:
    """A synthetic grading: two passes, a failure with a story, a timeout, a stub left alone."""
    checks = [
        _check("RL-BURST", "A full bucket allows `burst` calls", 1, "correctness", 5, "passed"),
        _check("RL-REFILL", "Tokens come back at the rate | key", 1, "correctness", 5, "passed"),
        _check(
            "RL-THREADS",
            "Concurrent callers never exceed the limit | per key",
            2,
            "concurrency",
            5,
            "failed",
            Evidence(
                summary="3 calls were allowed where burst=2 allows 2 <script>alert(1)</script>",
                story=[
                    "RateLimiter(rate=1/s, burst=2) created at t=0",
                    "3 threads each called try_acquire('k') at t=0",
                    "3 were allowed; at most 2 may be",
                ],
                counterexample="threads=3, burst=2, rate=1.0\nkeys=['k']\n```",
                reproduce_blob="@reproduce_failure('6.100.0', b'AXicY2BgAAAABAAB')",
                fault_schedule=None,
                log_excerpt="[worker-2] acquired k (tokens=-1)",
                timeline=RACE,
            ),
        ),
        _check(
            "RL-REDIS-CUT",
            "A cut Redis connection fails closed within the timeout",
            2,
            "resilience",
            4,
            "timed_out",
            Evidence(
                summary="no answer within 10.0 s after the proxy cut the connection",
                fault_schedule="t=0.50 cut mid-reply\nt=1.00 restore",
            ),
        ),
        _check("RL-TESTS", "Your tests kill the known mutants", 1, "testing", 2, "not_attempted"),
    ]
    exercise = EXERCISE
    scored = score(checks, exercise)
    return Report(
        kit_version="0.1.0",
        exercise=exercise.slug,
        exercise_version=exercise.version,
        parts=[1, 2],
        seed_profile="default",
        seed_profile_sha256=SEED_SHA,
        submission=submission,
        submission_sha256=SUBMISSION_SHA,
        isolation="bubblewrap",
        score=scored.score,
        max_score=scored.max_score,
        dimensions=scored.dimensions,
        scorecard=scored.scorecard,
        not_measured=list(NOT_MEASURED),
        checks=checks,
        created_at="2025-03-14T09:30:00+00:00",
        duration_s=12.34,
        infra_error=infra_error,
    )
