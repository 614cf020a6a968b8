"""One grading, start to finish: stage the submission, run the checks, score, write reports.

A report is written whenever the submission could be staged, whatever the
candidate's code did; when the kit itself fails the report says so
(``infra_error``) and the command exits non-zero. Usage mistakes (missing file,
unknown exercise, bad parts) raise before anything is graded.
"""

from __future__ import annotations

import os
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
from dskata.quality import Quality, measure_quality, without_health_points_for_nothing
from dskata.report import REPORT_FILES, InvalidReport, load_report, write_all
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
    shards: int = 1  # grading sessions that split the checks (see run_checks)


def default_shards() -> int:
    """Sessions for one grading on its own: one more than the cores, three at most.

    Most checks spend their time waiting (socket timeouts through the fault proxy, Redis,
    sleeps between rounds), so a third session on two cores fills those waits: the
    rate-limiter reference went 24/36/21 s → 20/26/20 s (two vs three, interleaved runs).
    """
    return min(3, (os.cpu_count() or 1) + 1)


@dataclass(frozen=True)
class Graded:
    report: Report
    out_dir: Path
    files: list[Path]
    reused: bool = False  # the reports in out_dir were up to date: nothing was graded


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


def grade(
    request: GradeRequest, progress: Progress | None = None, *, reuse: bool = False
) -> Graded:
    """Grades one submission and writes its report files; returns where they went.

    ``reuse``: when the out folder already holds an up-to-date report of this very
    submission (see ``up_to_date``), return it without grading (batch resume).
    """
    profile = load_profile(request.seeds)
    with tempfile.TemporaryDirectory(prefix="dskata-grade-") as tmp:
        scratch = Path(tmp)
        staged = stage_submission(request.path, scratch, exercise_slug=request.exercise)
        exercise = staged.exercise
        parts = exercise.check_parts(request.parts or staged.parts)
        out_dir = request.out or default_out_dir(request.path, staged.label)
        if reuse:
            existing = up_to_date(out_dir, staged, parts, profile, request.checks)
            if existing is not None:
                return Graded(existing, out_dir, [out_dir / n for n in REPORT_FILES], reused=True)
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
                shards=1 if len(request.checks) == 1 else request.shards,
            )
        except UsageError:
            raise
        except Exception as exc:  # the kit failed: still write a report that says so
            outcome = RunOutcome([], "unknown", f"{type(exc).__name__}: {exc}")
        quality = None if request.checks else measure_quality(staged, parts, scratch / "quality")
        report = build_report(
            staged, parts, profile, outcome, time.monotonic() - started, quality
        )
        if request.checks:  # a narrowed grading is not the full one (batch resume asks)
            report.extra["only_checks"] = sorted(set(request.checks))
    return Graded(report, out_dir, write_all(report, out_dir))


def up_to_date(
    out_dir: Path,
    staged: Staged,
    parts: tuple[int, ...],
    profile: SeedProfile,
    checks: tuple[str, ...] = (),
) -> Report | None:
    """Returns the report in ``out_dir`` if grading again would give the same one, else None.

    Same means: this kit version, the same exercise and version, submission sha256,
    seed profile sha256, parts and checks, every report file present, and no infra
    error (a kit failure is always worth a retry). Anything unreadable is "not up to date".
    """
    if not all((out_dir / name).is_file() for name in REPORT_FILES):
        return None
    try:
        report = load_report(out_dir / "report.json")
    except InvalidReport:
        return None
    same = (
        report.kit_version == dskata.__version__
        and report.exercise == staged.exercise.slug
        and report.exercise_version == staged.exercise.version
        and report.submission_sha256 == staged.sha256
        and report.seed_profile_sha256 == profile.sha256
        and report.parts == list(parts)
        and report.extra.get("only_checks", []) == sorted(set(checks))
        and report.infra_error is None
    )
    return report if same else None


def build_report(
    staged: Staged,
    parts: tuple[int, ...],
    profile: SeedProfile,
    outcome: RunOutcome,
    duration: float,
    quality: Quality | None = None,
) -> Report:
    checks = settle(outcome.checks)
    quality = without_health_points_for_nothing(quality or Quality(), checks)
    scored = score(checks, staged.exercise, quality.measured())
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
        isolation_detail=outcome.isolation_detail,
        isolation_degraded=outcome.isolation_degraded,
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
        testing=quality.testing,
        code_health=quality.code_health,
        integrity_signals=quality.integrity_signals,
    )
