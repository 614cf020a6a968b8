"""No false fails: every correct solution, however designed, scores full marks.

The reference plus the alternatives in ``tests/solutions/<slug>/`` (different
algorithms and locking designs) are graded on all parts with the default seed
profile (the reference's own full-marks grading is `dskata verify`'s, in
tests/test_verify.py, so the fast suite does not grade it twice). The slow
variant grades each again with other seed profiles, so a check that only
passes for lucky cases shows up.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from dskata.catalog import Exercise, all_exercises
from dskata.grading.runner import RunOutcome, run_checks
from dskata.staging import stage_kit_module

SOLUTIONS = Path(__file__).parent / "solutions"


def _solutions(reference: bool = True) -> list[tuple[Exercise, Path]]:
    found = []
    for exercise in all_exercises():
        if reference:
            found.append((exercise, exercise.reference_module))
        found += [(exercise, p) for p in sorted((SOLUTIONS / exercise.slug).glob("*.py"))]
    return found


def _ids(reference: bool = True) -> list[str]:
    return [
        f"{ex.slug}/{'reference' if 'reference' in str(p) else p.stem}"
        for ex, p in _solutions(reference)
    ]


def grade_all_parts(exercise: Exercise, module: Path, seed: int, shards: int = 1) -> RunOutcome:
    with tempfile.TemporaryDirectory(prefix="dskata-solution-") as tmp:
        return run_checks(
            exercise,
            # Staged as `dskata grade` stages it: support modules (messaging.py) beside it.
            module_path=stage_kit_module(exercise, module, Path(tmp) / "stage"),
            parts=exercise.part_numbers,
            seed=seed,
            checks=None,
            scratch=Path(tmp) / "grading",
            replay_base=f"dskata grade {module} --exercise {exercise.slug}",
            shards=shards,
        )


def assert_full_marks(outcome: RunOutcome) -> None:
    assert outcome.infra_error is None, outcome.infra_error
    lost = {
        c.id: (c.status, c.evidence.summary if c.evidence else "")
        for c in outcome.checks
        if c.status != "passed"
    }
    assert not lost, f"a correct solution lost points: {lost}"
    assert outcome.checks, "no checks ran"


def test_every_exercise_has_two_alternative_solutions() -> None:
    for exercise in all_exercises():
        assert len(list((SOLUTIONS / exercise.slug).glob("*.py"))) >= 2, exercise.slug


@pytest.mark.parametrize(("exercise", "module"), _solutions(False), ids=_ids(False))
def test_correct_solution_scores_full_marks(exercise: Exercise, module: Path) -> None:
    # Two sessions, as `dskata grade` runs them on this machine (the slow test uses one).
    assert_full_marks(grade_all_parts(exercise, module, seed=20261123, shards=2))


@pytest.mark.slow
@pytest.mark.parametrize(("exercise", "module"), _solutions(), ids=_ids())
@pytest.mark.parametrize("seed", [1, 2])
def test_correct_solution_scores_full_marks_with_other_seeds(
    exercise: Exercise, module: Path, seed: int
) -> None:
    assert_full_marks(grade_all_parts(exercise, module, seed=seed))
