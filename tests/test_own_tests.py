"""The testing dimension: the candidate's own tests against the reference and the mutants.

``tests/candidate_tests/<slug>/`` holds test files as candidates would write them
(public API only): ``test_my_*.py`` a strong candidate's, the others each one way of
getting it wrong. None of them is collected by the kit's own run (pyproject's
``--ignore``); they are copied into a workspace and graded.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from dskata import results
from dskata.catalog import get_exercise
from dskata.quality.own_tests import (
    check_dimensions,
    counted,
    grade_own_tests,
    module_under_test,
)
from dskata.staging import Staged, stage_submission
from dskata.verify import targets_for
from dskata.workspace import start_workspace

CANDIDATE_TESTS = Path(__file__).parent / "candidate_tests"
GOOD = {
    "rate_limiter": "test_my_limiter.py",
    "idempotency": "test_my_layer.py",
    "worker_pool": "test_my_pool.py",
}
KILL_BAR = 0.8  # issue 9: a good test file kills at least 80% of the counted mutants


def _staged(
    tmp_path: Path, slug: str, test_file: str | None, parts: tuple[int, ...] = (1,)
) -> Staged:
    exercise = get_exercise(slug)
    ws = start_workspace(exercise, tmp_path / "ws", parts)
    shutil.copy(exercise.reference_module, ws / exercise.module)
    if test_file:
        shutil.copy(CANDIDATE_TESTS / slug / test_file, ws / "tests" / test_file)
    return stage_submission(ws, tmp_path / "scratch", exercise_slug=None)


def _grade(staged: Staged, parts: tuple[int, ...], tmp_path: Path) -> results.TestingResult:
    rubric = staged.exercise.testing
    assert rubric is not None
    return grade_own_tests(staged, parts, rubric, tmp_path / "q")


def test_public_tests_only_score_zero_and_say_so(tmp_path: Path) -> None:
    staged = _staged(tmp_path, "rate_limiter", None)
    result = _grade(staged, (1,), tmp_path)
    assert (result.verdict, result.points) == ("no_tests", 0.0)
    assert "No tests of the candidate's own" in result.summary


def test_a_test_failing_on_the_reference_is_named(tmp_path: Path) -> None:
    staged = _staged(tmp_path, "rate_limiter", "test_fails_on_reference.py")
    result = _grade(staged, (1,), tmp_path)
    assert (result.verdict, result.points, result.mutants) == ("fails_on_reference", 0.0, [])
    assert result.failing_on_reference == [
        "tests/test_fails_on_reference.py::test_burst_plus_one_is_allowed"
    ]
    assert "Tests fail on a correct solution" in result.summary


def test_tests_that_kill_nothing_score_zero(tmp_path: Path) -> None:
    """Tests that pass on the reference but assert nothing a mistake changes (10-18 s)."""
    staged = _staged(tmp_path, "rate_limiter", "test_asserts_nothing.py")
    result = _grade(staged, (1,), tmp_path)
    assert result.verdict == "scored"
    assert result.tests_on_reference == 2
    assert result.mutants and not result.caught
    assert result.points == 0.0
    assert "caught 0 of" in result.summary


@pytest.mark.slow
def test_good_tests_kill_most_part_one_mutants(tmp_path: Path) -> None:
    """The strong candidate's rate-limiter tests, judged on part 1's mutants (about 25 s)."""
    staged = _staged(tmp_path, "rate_limiter", GOOD["rate_limiter"], (1, 2, 3))
    result = _grade(staged, (1,), tmp_path)
    assert result.verdict == "scored", result.summary
    assert len(result.caught) >= KILL_BAR * len(result.mutants), result.missed
    assert {m.parts[0] for m in result.mutants} == {1}
    assert result.points == pytest.approx(10 * len(result.caught) / len(result.mutants))


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(GOOD))
def test_good_tests_kill_at_least_80_percent_on_every_part(tmp_path: Path, slug: str) -> None:
    """Every part, every counted mutant (rate limiter ~60 s, idempotency ~3 min, pool ~2 min)."""
    exercise = get_exercise(slug)
    # Parts whose contract needs Redis are left out: a candidate's test cannot start a
    # Redis inside the bubblewrap sandbox yet (it cannot open /dev/null there), so the
    # good files skip their Redis tests and would miss every Redis mutant. Under
    # DSKATA_ISOLATION=subprocess every part reaches 100% (see the report of issue 9).
    parts = tuple(p.number for p in exercise.parts if "redis" not in p.services)
    staged = _staged(tmp_path, slug, GOOD[slug], exercise.part_numbers)
    result = _grade(staged, parts, tmp_path)
    assert result.verdict == "scored", result.summary
    kinds = {m.name for m in result.mutants} | {n.name for n in result.not_counted}
    assert kinds == {
        t.name
        for t in targets_for(exercise)
        if t.kind == "mutant" and set(t.parts or exercise.part_numbers) <= set(parts)
    }
    assert len(result.caught) >= KILL_BAR * len(result.mutants), [m.name for m in result.missed]


def test_mutants_caught_only_by_performance_checks_are_not_counted(tmp_path: Path) -> None:
    exercise = get_exercise("rate_limiter")
    rubric = exercise.testing
    assert rubric is not None and rubric.uncounted_dimensions == ("performance",)
    dims = check_dimensions(exercise)
    left_out = {
        t.name
        for t in targets_for(exercise)
        if t.kind == "mutant" and not counted(t, dims, rubric.uncounted_dimensions)
    }
    assert left_out == {"exact_fractions", "head_of_line_eviction", "never_forgets",
                        "sweep_every_call"}  # fmt: skip


@pytest.mark.parametrize("slug", sorted(GOOD))
def test_every_declared_check_has_a_known_dimension(slug: str) -> None:
    """The rule above reads dimensions from the graders' @check literals: none may be missed."""
    exercise = get_exercise(slug)
    dims = check_dimensions(exercise)
    for target in targets_for(exercise):
        for check_id in target.catches:
            assert check_id in dims, f"{target.name} declares {check_id}, not found in graders"


def test_mutant_labels_are_stripped_before_tests_see_the_module() -> None:
    source = '"""Mutant: no lock."""\n__mutant__ = {"mistake": "x"}\nX = 1\n'
    assert module_under_test(source) == "X = 1\n"


def test_a_part_scoped_mutant_is_completed_by_the_reference() -> None:
    reference = '"""Ref."""\nfrom __future__ import annotations\nA = 1\nB = 2\n'
    mutant = '"""Mutant."""\nfrom __future__ import annotations\n__mutant__ = {}\nA = 3\n'
    source = module_under_test(mutant, reference)
    namespace: dict[str, object] = {}
    exec(compile(source, "m", "exec"), namespace)  # the mutant's A, the reference's B
    assert (namespace["A"], namespace["B"]) == (3, 2)
    assert ast.parse(source).body[0].__class__ is ast.ImportFrom  # __future__ stays first
    assert source.count("__future__") == 1
