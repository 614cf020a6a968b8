"""Scoring: only passed earns, score is normalised, dimensions and scorecard levels."""

from __future__ import annotations

import pytest

from dskata.catalog import DIMENSIONS, SCORECARD_ROWS, Exercise, Part, Threshold
from dskata.errors import KitError
from dskata.results import CheckResult, DimensionScore, Status
from dskata.scoring import MAX_SCORE, earned_points, score, settle


def _exercise(rubric: dict[str, Threshold] | None = None) -> Exercise:
    return Exercise(
        slug="rate_limiter",
        title="Rate limiter",
        version="1.0",
        module="rate_limiter.py",
        summary="",
        parts=(Part(1, "Local", 30), Part(2, "Distributed", 30)),
        rubric=rubric or {},
    )


def _check(
    id: str, dimension: str, max_points: float, status: Status, points: float | None = None
) -> CheckResult:
    return CheckResult(
        id=id,
        title=id.lower(),
        part=1,
        dimension=dimension,
        points=max_points if points is None else points,
        max_points=max_points,
        status=status,
        evidence=None,
        replay=f"dskata grade ./alice --check {id}",
        duration_s=0.1,
    )


CHECKS = [
    _check("C-1", "correctness", 5, "passed"),
    _check("C-2", "concurrency", 5, "passed"),
    # A failed check that (wrongly) carries points must still earn nothing.
    _check("C-3", "concurrency", 5, "failed", points=5),
    _check("I-1", "integrity", 4, "timed_out", points=0),
    _check("R-1", "resilience", 3, "passed"),
    _check("R-2", "resilience", 1, "crashed", points=0),
    _check("T-1", "testing", 2, "not_attempted", points=0),
]
RUBRIC = {"Distributed system design (failure handling)": Threshold(meets=0.5, exceeds=0.75)}


def test_only_passed_earns_points() -> None:
    assert earned_points(_check("X", "correctness", 5, "passed")) == 5.0
    for status in ("failed", "timed_out", "crashed", "resource_exceeded", "tampered"):
        assert earned_points(_check("X", "correctness", 5, status)) == 0.0
    # A passed check cannot earn more than it is worth, nor less than nothing.
    assert earned_points(_check("X", "correctness", 5, "passed", points=9)) == 5.0
    assert earned_points(_check("X", "correctness", 5, "passed", points=-1)) == 0.0


def test_settle_zeroes_points_of_checks_that_did_not_pass() -> None:
    settled = settle(CHECKS)
    assert [c.points for c in settled] == [5.0, 5.0, 0.0, 0.0, 3.0, 0.0, 0.0]
    assert CHECKS[2].points == 5  # the input is left alone


def test_score_is_normalised_over_the_checks_given() -> None:
    scored = score(CHECKS, _exercise(RUBRIC))
    # earned 5 + 5 + 3 = 13 of 5 + 5 + 5 + 4 + 3 + 1 + 2 = 25
    assert scored.score == 52.0
    assert scored.max_score == MAX_SCORE == 100.0


def test_score_rounds_to_two_decimals() -> None:
    checks = [_check("A", "correctness", 1, "passed"), _check("B", "correctness", 2, "failed")]
    assert score(checks, _exercise()).score == 33.33


def test_dimensions_are_raw_points_and_all_present() -> None:
    scored = score(CHECKS, _exercise(RUBRIC))
    assert list(scored.dimensions) == list(DIMENSIONS)
    assert scored.dimensions == {
        "correctness": DimensionScore(5.0, 5.0),
        "concurrency": DimensionScore(5.0, 10.0),
        "integrity": DimensionScore(0.0, 4.0),
        "resilience": DimensionScore(3.0, 4.0),
        "performance": DimensionScore(0.0, 0.0),
        "testing": DimensionScore(0.0, 2.0),
        "code health": DimensionScore(0.0, 0.0),
    }


def test_scorecard_levels_from_the_rubric() -> None:
    scored = score(CHECKS, _exercise(RUBRIC))
    assert list(scored.scorecard) == list(SCORECARD_ROWS)
    assert scored.scorecard == {
        "Coding & correctness": "meets bar",  # 10 of 15 against the default 0.6 / 0.9
        "Data consistency & integrity": "below bar",
        "Distributed system design (failure handling)": "exceeds bar",  # 0.75 >= 0.75
        "Performance engineering": "not measured",
        "Coding & correctness (tests)": "below bar",
        "Coding & correctness (clarity)": "not measured",
    }


@pytest.mark.parametrize(
    ("earned", "expected"),
    [(5, "below bar"), (6, "meets bar"), (8, "meets bar"), (9, "exceeds bar"), (10, "exceeds bar")],
)
def test_thresholds_are_inclusive(earned: int, expected: str) -> None:
    # Ten 0.1-point checks: sums carry float noise, and 6 of 10 must still meet a 0.6 bar.
    checks = [
        _check(f"P-{i}", "performance", 0.1, "passed" if i < earned else "failed")
        for i in range(10)
    ]
    assert score(checks, _exercise()).scorecard["Performance engineering"] == expected


def test_no_checks_scores_zero_and_measures_nothing() -> None:
    scored = score([], _exercise())
    assert scored.score == 0.0
    assert all(d == DimensionScore(0.0, 0.0) for d in scored.dimensions.values())
    assert set(scored.scorecard.values()) == {"not measured"}


def test_an_unknown_dimension_is_a_kit_error() -> None:
    with pytest.raises(KitError, match="X-1"):
        score([_check("X-1", "vibes", 1, "passed")], _exercise())
