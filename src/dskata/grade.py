"""One grading, start to finish: stage the submission, run the checks, score, write reports.

A report is written whenever the submission could be staged, whatever the
candidate's code did; when the kit itself fails the report says so
(``infra_error``) and the command exits non-zero. Usage mistakes (missing file,
unknown exercise, bad parts) raise before anything is graded.
"""

from __future__ import annotations

import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dskata
from dskata.catalog import NOT_MEASURED, Exercise
from dskata.errors import UsageError
from dskata.grading.runner import RunOutcome, run_checks
from dskata.report import write_all
from dskata.results import Report
from dskata.scoring import score, settle
from dskata.seeds import SeedProfile, load_profile
from dskata.staging import Staged, stage_submission

Progress = Callable[[dict[str, object]], None]


@dataclass(frozen=True)
class GradeRequest:
    path: Path
    exercise: str | None = None
    parts: tuple[int, ...] | None = None
    seeds: str = "default"
    checks: tuple[str, ...] = ()
    out: Path | None = None


@dataclass(frozen=True)
class Graded:
    report: Report
    out_dir: Path
    files: list[Path]


def default_out_dir(path: Path, label: str) -> Path:
    """Returns the folder next to the submission that receives its reports."""
    return path.resolve().parent / f"{label}-report"


def replay_command(
    request: GradeRequest, exercise: Exercise, parts: tuple[int, ...], profile: SeedProfile
) -> str:
    seeds = profile.name if profile.path.parent.name == "seeds" else str(profile.path)
    words = [
        "dskata",
        "grade",
        str(request.path.resolve()),
        "--exercise",
        exercise.slug,
        "--parts",
        ",".join(map(str, parts)),
        "--seeds",
        seeds,
    ]
    return shlex.join(words)


def grade(request: GradeRequest, progress: Progress | None = None) -> Graded:
    """Grades one submission and writes report.json/.md/.html; returns where they went."""
    profile = load_profile(request.seeds)
    with tempfile.TemporaryDirectory(prefix="dskata-grade-") as tmp:
        scratch = Path(tmp)
        staged = stage_submission(request.path, scratch, exercise_slug=request.exercise)
        exercise = staged.exercise
        parts = exercise.check_parts(request.parts or staged.parts)
        started = time.monotonic()
        try:
            outcome = run_checks(
                exercise,
                module_path=staged.module_path,
                parts=parts,
                seed=profile.seed,
                checks=list(request.checks) or None,
                scratch=scratch / "grading",
                replay_base=replay_command(request, exercise, parts, profile),
                progress=progress,
            )
        except UsageError:
            raise
        except Exception as exc:  # the kit failed: still write a report that says so
            outcome = RunOutcome([], "unknown", f"{type(exc).__name__}: {exc}")
        report = build_report(staged, parts, profile, outcome, time.monotonic() - started)
    out_dir = request.out or default_out_dir(request.path, staged.label)
    return Graded(report, out_dir, write_all(report, out_dir))


def build_report(
    staged: Staged,
    parts: tuple[int, ...],
    profile: SeedProfile,
    outcome: RunOutcome,
    duration: float,
) -> Report:
    checks = settle(outcome.checks)
    scored = score(checks, staged.exercise)
    return Report(
        kit_version=dskata.__version__,
        exercise=staged.exercise.slug,
        exercise_version=staged.exercise.version,
        parts=list(parts),
        seed_profile=profile.name,
        seed_profile_sha256=profile.sha256,
        submission=staged.label,
        submission_sha256=staged.sha256,
        isolation=outcome.isolation,
        score=scored.score,
        max_score=scored.max_score,
        dimensions=scored.dimensions,
        scorecard=scored.scorecard,
        not_measured=list(NOT_MEASURED),
        checks=checks,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(duration, 2),
        infra_error=outcome.infra_error,
        redis=outcome.redis,
    )
