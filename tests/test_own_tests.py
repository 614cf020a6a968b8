"""The testing dimension: the candidate's own tests against the reference and the mutants."""

from __future__ import annotations

import shutil
from pathlib import Path

from dskata.catalog import get_exercise
from dskata.quality.own_tests import grade_own_tests, module_under_test
from dskata.staging import stage_submission
from dskata.workspace import start_workspace

CANDIDATE_TESTS = Path(__file__).parent / "candidate_tests"


def _staged(tmp_path: Path, test_file: str | None):  # type: ignore[no-untyped-def]
    exercise = get_exercise("rate_limiter")
    ws = start_workspace(exercise, tmp_path / "ws", (1,))
    shutil.copy(exercise.reference_module, ws / exercise.module)
    if test_file:
        shutil.copy(CANDIDATE_TESTS / "rate_limiter" / test_file, ws / "tests" / test_file)
    return stage_submission(ws, tmp_path / "scratch", exercise_slug=None)


def test_public_tests_only_score_zero_and_say_so(tmp_path: Path) -> None:
    staged = _staged(tmp_path, None)
    result = grade_own_tests(staged, (1,), staged.exercise.testing, tmp_path / "q")
    assert (result.verdict, result.points) == ("no_tests", 0.0)
    assert "No tests of the candidate's own" in result.summary


def test_a_test_failing_on_the_reference_is_named(tmp_path: Path) -> None:
    staged = _staged(tmp_path, "test_fails_on_reference.py")
    result = grade_own_tests(staged, (1,), staged.exercise.testing, tmp_path / "q")
    assert (result.verdict, result.points, result.mutants) == ("fails_on_reference", 0.0, [])
    assert result.failing_on_reference == [
        "tests/test_fails_on_reference.py::test_burst_plus_one_is_allowed"
    ]
    assert "Tests fail on a correct solution" in result.summary


def test_mutant_labels_are_stripped_before_tests_see_the_module() -> None:
    source = '"""Mutant: no lock."""\n__mutant__ = {"mistake": "x"}\nX = 1\n'
    assert module_under_test(source) == "X = 1\n"
