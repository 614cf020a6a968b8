"""Points by dimension and scorecard levels, from check results and an exercise's rubric.

Rules (from the grading model):

- Only a check with status ``passed`` earns points; every other status earns 0,
  whatever ``points`` the check carries. A passed check earns its ``points``,
  clamped to ``[0, max_points]``.
- The score is normalised over the checks given: ``100 * earned / max``, rounded to
  2 decimals, and 0.0 when there is nothing to earn.
- Each dimension in ``DIMENSIONS`` gets raw points earned / available (zeros when no
  check feeds it).
- Each row of ``SCORECARD_ROWS`` gets a level from the fraction earned over the
  row's dimensions, compared with ``exercise.threshold(row)``; a row whose
  dimensions have no points available in these checks is ``not measured``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

from dskata.catalog import DIMENSIONS, SCORECARD_ROWS, Exercise, Threshold
from dskata.errors import KitError
from dskata.results import CheckResult, DimensionScore

BELOW_BAR: Final = "below bar"
MEETS_BAR: Final = "meets bar"
EXCEEDS_BAR: Final = "exceeds bar"
NOT_MEASURED_LEVEL: Final = "not measured"
LEVELS: Final[tuple[str, ...]] = (BELOW_BAR, MEETS_BAR, EXCEEDS_BAR, NOT_MEASURED_LEVEL)

MAX_SCORE: Final = 100.0

# Sums of fractional points pick up float noise (0.1 + 0.2 != 0.3); raw sums are
# rounded to this many places so the same checks always give the same bytes, and
# fractions are compared at this precision so 3 of 5 points meets a 0.6 bar.
_PLACES: Final = 9


@dataclass(frozen=True)
class Scored:
    """The numbers a report carries about a grading run as a whole."""

    score: float
    max_score: float
    dimensions: dict[str, DimensionScore]
    scorecard: dict[str, str]


def earned_points(check: CheckResult) -> float:
    """Returns the points ``check`` counts for: its points if it passed, else 0.0."""
    if check.status != "passed":
        return 0.0
    return float(min(max(check.points, 0.0), max(check.max_points, 0.0)))


def settle(checks: list[CheckResult]) -> list[CheckResult]:
    """Returns copies of ``checks`` whose ``points`` are what they earn.

    For the grading run to call before building a Report, so ``report.json`` never
    shows points on a check that did not pass.
    """
    return [replace(c, points=earned_points(c)) for c in checks]


def score(
    checks: list[CheckResult],
    exercise: Exercise,
    measured: dict[str, tuple[float, float]] | None = None,
) -> Scored:
    """Scores ``checks`` against ``exercise``'s rubric.

    ``measured``: points (earned, available) of dimensions measured outside the checks
    (the candidate's own tests, code health), added to those dimensions as they are.

    Raises KitError when a check names a dimension outside ``DIMENSIONS``: that is a
    mis-tagged grader, and charging or crediting the candidate for it would be wrong.
    """
    earned = dict.fromkeys(DIMENSIONS, 0.0)
    available = dict.fromkeys(DIMENSIONS, 0.0)
    for check in checks:
        if check.dimension not in available:
            raise KitError(
                f"check {check.id} has dimension {check.dimension!r}, not one of {DIMENSIONS}"
            )
        earned[check.dimension] += earned_points(check)
        available[check.dimension] += max(check.max_points, 0.0)
    for dimension, (got, out_of) in (measured or {}).items():
        if dimension not in available:
            raise KitError(f"measured dimension {dimension!r} is not one of {DIMENSIONS}")
        earned[dimension] += min(max(got, 0.0), max(out_of, 0.0))
        available[dimension] += max(out_of, 0.0)

    dimensions = {
        d: DimensionScore(score=_tidy(earned[d]), max_score=_tidy(available[d])) for d in DIMENSIONS
    }
    total_earned = math.fsum(earned.values())
    total_max = math.fsum(available.values())
    normalised = round(MAX_SCORE * total_earned / total_max, 2) if total_max > 0 else 0.0
    scorecard = {
        row: _level(dimensions, dims, exercise.threshold(row))
        for row, dims in SCORECARD_ROWS.items()
    }
    return Scored(score=normalised, max_score=MAX_SCORE, dimensions=dimensions, scorecard=scorecard)


def _level(dimensions: dict[str, DimensionScore], dims: tuple[str, ...], bar: Threshold) -> str:
    got = math.fsum(dimensions[d].score for d in dims)
    out_of = math.fsum(dimensions[d].max_score for d in dims)
    if out_of <= 0:
        return NOT_MEASURED_LEVEL
    fraction = round(got / out_of, _PLACES)
    if fraction >= bar.exceeds:
        return EXCEEDS_BAR
    if fraction >= bar.meets:
        return MEETS_BAR
    return BELOW_BAR


def _tidy(points: float) -> float:
    # ``+ 0.0`` turns a -0.0 from rounding into 0.0, which JSON would print as "-0.0".
    return round(points, _PLACES) + 0.0
