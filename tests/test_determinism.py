"""Same submission + same seed profile → the same report, byte for byte apart from timings.

A mutant that fails property-based checks is graded twice: the statuses, points,
shrunk counterexamples, stories and replay commands must be identical. A thread
race is judged the same every time, but which trial lost the race is the
scheduler's choice, so for races only the statuses and the score must match.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
MUTANTS = ROOT / "graders" / "rate_limiter" / "mutants"
TIMING_KEYS = {"duration_s", "created_at"}


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _grade(module: Path, out: Path, checks: list[str], *extra: str) -> dict[str, Any]:
    flags = [word for check in checks for word in ("--check", check)] + list(extra)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dskata",
            "grade",
            str(module),
            "--exercise",
            "rate_limiter",
            "--out",
            str(out),
            "--quiet",
            *flags,
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mutant", "checks"),
    [
        ("denial_loses_refill", ["RL-MODEL", "RL-RETRY-AFTER", "RL-COST"]),
        ("negative_elapsed", ["RL-CLOCK-BACKWARDS"]),
    ],
)
def test_grading_twice_gives_the_same_report(
    tmp_path: Path, mutant: str, checks: list[str]
) -> None:
    module = MUTANTS / f"{mutant}.py"
    first = _grade(module, tmp_path / "first", checks)
    second = _grade(module, tmp_path / "second", checks)
    assert [c["status"] for c in first["checks"]] != ["passed"] * len(checks)
    assert _without_timings(first) == _without_timings(second)
    first_md = (tmp_path / "first" / "report.md").read_text()
    assert "Falsifying" in first_md or "What happened" in first_md


def test_splitting_the_checks_over_sessions_changes_nothing(tmp_path: Path) -> None:
    """``dskata grade`` splits checks over two sessions; one session gives the same report."""
    module = MUTANTS / "denial_loses_refill.py"
    checks = ["RL-MODEL", "RL-RETRY-AFTER", "RL-COST", "RL-VALIDATION"]
    one = _grade(module, tmp_path / "one", checks, "--shards", "1")
    two = _grade(module, tmp_path / "two", checks, "--shards", "2")
    assert [c["id"] for c in two["checks"]] == [c["id"] for c in one["checks"]]
    assert "failed" in [c["status"] for c in one["checks"]]
    assert _without_timings(one) == _without_timings(two)


@pytest.mark.slow
def test_a_race_is_scored_the_same_every_time(tmp_path: Path) -> None:
    checks = ["RL-THREADS-FRESH-KEY", "RL-THREADS-REFILL", "RL-THREADS-LINEARIZABLE"]
    module = MUTANTS / "no_lock.py"
    reports = [_grade(module, tmp_path / str(i), checks) for i in range(3)]
    scores = {(r["score"], tuple(c["status"] for c in r["checks"])) for r in reports}
    assert len(scores) == 1, scores
