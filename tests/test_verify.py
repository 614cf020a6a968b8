"""Every grader is sound: ``dskata verify`` passes (reference full, stub zero, mutants caught).

The mutant metadata itself is checked too: each mutant says what mistake it
models, which parts it belongs to and which checks must catch it, and those
checks exist and belong to those parts.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dskata.catalog import Exercise, all_exercises
from dskata.verify import read_mutant, targets_for


@pytest.mark.parametrize("exercise", all_exercises(), ids=lambda e: e.slug)
def test_every_mutant_declares_its_mistake_parts_and_catching_checks(exercise: Exercise) -> None:
    graders = "".join(p.read_text() for p in exercise.grader_dir.glob("test_*.py"))
    mutants = sorted(exercise.mutants_dir.glob("*.py"))
    assert len(mutants) >= 8
    for path in mutants:
        meta = read_mutant(path)
        assert set(meta["parts"]) <= set(exercise.part_numbers), path.name
        for check_id in meta["catches"]:
            assert f'"{check_id}"' in graders, f"{path.name} declares unknown check {check_id}"


def _verify(exercise: Exercise, *flags: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dskata", "verify", exercise.slug, "--jobs", "2", *flags],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mutants caught" in done.stdout


@pytest.mark.parametrize("exercise", all_exercises(), ids=lambda e: e.slug)
def test_verify_passes(exercise: Exercise) -> None:
    """Each mutant graded on its declared checks only: the same verdicts, a third the time."""
    _verify(exercise, "--declared-only")


@pytest.mark.slow
@pytest.mark.parametrize("exercise", all_exercises(), ids=lambda e: e.slug)
def test_verify_passes_grading_every_check_twice(exercise: Exercise) -> None:
    """Every mutant on every check of its parts, twice: no check's status may vary."""
    _verify(exercise, "--repeat", "2")


def test_targets_include_reference_stub_and_mutants() -> None:
    for exercise in all_exercises():
        kinds = [t.kind for t in targets_for(exercise)]
        assert kinds[:2] == ["reference", "stub"]
        assert kinds.count("mutant") == len(list(exercise.mutants_dir.glob("*.py")))
