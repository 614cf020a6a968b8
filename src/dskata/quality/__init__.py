"""What the kit measures besides the hidden checks: the candidate's own tests (testing
dimension, ``own_tests``), code-health signals (``health``) and integrity signals
(``integrity``: information for the interviewer, never points)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dskata.results import CheckResult, CodeHealthResult, IntegritySignal, TestingResult
from dskata.staging import Staged


@dataclass
class Quality:
    """What ``measure_quality`` found; each part is None when not measured."""

    testing: TestingResult | None = None
    code_health: CodeHealthResult | None = None
    integrity_signals: list[IntegritySignal] | None = None

    def measured(self) -> dict[str, tuple[float, float]]:
        """(earned, available) points per dimension, for ``scoring.score``."""
        found: dict[str, tuple[float, float]] = {}
        if self.testing is not None and self.testing.verdict != "infra_error":
            found["testing"] = (self.testing.points, self.testing.max_points)
        if self.code_health is not None and self.code_health.error is None:
            found["code health"] = (self.code_health.points, self.code_health.max_points)
        return found


def measure_quality(staged: Staged, parts: tuple[int, ...], scratch: Path) -> Quality:
    """Measures what the exercise's rubric asks for (nothing it does not name).

    A failure of the kit while measuring is recorded as ``infra_error`` (testing) or
    ``error`` (code health) and charged nothing: the dimension is left out of the score.
    """
    from dskata.quality.health import measure_health
    from dskata.quality.integrity import scan_submission
    from dskata.quality.own_tests import grade_own_tests

    exercise = staged.exercise
    quality = Quality(integrity_signals=scan_submission(staged.root))
    if exercise.testing is not None:
        try:
            quality.testing = grade_own_tests(staged, parts, exercise.testing, scratch / "tests")
        except Exception as exc:  # the kit's fault: say so, charge nothing
            quality.testing = TestingResult(
                0.0,
                exercise.testing.points,
                "infra_error",
                f"The kit failed while running the candidate's tests: {type(exc).__name__}: {exc}",
            )
    if exercise.code_health is not None:
        quality.code_health = measure_health(
            staged.module_path,
            exercise.stub_module,
            exercise.module,
            exercise.code_health,
            scratch / "health",
        )
    return quality


def without_health_points_for_nothing(quality: Quality, checks: list[CheckResult]) -> Quality:
    """Code health earns nothing when no hidden check passed.

    Tidy code that does not work (the untouched stub, a module that does not import)
    is not healthy code; the signals are still shown, with a note saying why they
    earned nothing.
    """
    health = quality.code_health
    if health is None or health.error is not None or any(c.status == "passed" for c in checks):
        return quality
    note = "No hidden check passed, so the code-health signals earn no points."
    return replace(quality, code_health=replace(health, points=0.0, note=note))
