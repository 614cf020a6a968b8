"""What a grading produces: check results and the report document.

These dataclasses are the one shape every writer (JSON, Markdown, HTML,
terminal) reads; ``to_dict`` gives the ``report.json`` form checked by
``report/schema.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal[
    "passed",
    "failed",
    "timed_out",
    "crashed",
    "resource_exceeded",
    "not_attempted",
    "tampered",
    "infra_error",
]
STATUSES: tuple[Status, ...] = (
    "passed",
    "failed",
    "timed_out",
    "crashed",
    "resource_exceeded",
    "not_attempted",
    "tampered",
    "infra_error",
)
STATUS_WORDS: dict[str, str] = {
    "passed": "passed",
    "failed": "failed",
    "timed_out": "timed out",
    "crashed": "crashed",
    "resource_exceeded": "resource exceeded",
    "not_attempted": "not attempted",
    "tampered": "tampered",
    "infra_error": "infra error (kit fault)",
}


SPAN_KINDS: tuple[str, ...] = ("running", "queued", "waiting", "holding", "other")
MARK_KINDS: tuple[str, ...] = ("event", "ok", "error", "fault", "wrong")


@dataclass
class Span:
    """Something that lasted on one lane: a job running, a caller waiting for room."""

    lane: int
    start: float
    end: float
    kind: str = "running"  # one of SPAN_KINDS: how the report draws it
    label: str = ""


@dataclass
class Mark:
    """Something that happened at one moment; ``lane`` None: it concerns every lane."""

    t: float
    label: str
    kind: str = "event"  # one of MARK_KINDS; "wrong" is where a rule broke
    lane: int | None = None


@dataclass
class Timeline:
    """The shrunk counterexample drawn as lanes over time, for the report's diagram.

    Optional structured evidence a grader fills beside its story (``Story.draw``):
    one lane per actor (a job, a thread, a process), spans for what lasted, marks
    for what happened at an instant. ``unit`` names the x axis ("s" of virtual time,
    or "step" when only the order is known).
    """

    lanes: list[str]
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    unit: str = "s"
    title: str = ""


@dataclass
class Evidence:
    """Why a check did not pass, told for a human."""

    summary: str
    story: list[str] = field(default_factory=list)
    counterexample: str | None = None
    reproduce_blob: str | None = None
    fault_schedule: str | None = None
    log_excerpt: str | None = None
    timeline: Timeline | None = None


@dataclass
class CheckResult:
    id: str
    title: str
    part: int
    dimension: str
    points: float
    max_points: float
    status: Status
    evidence: Evidence | None
    replay: str
    duration_s: float


@dataclass
class DimensionScore:
    score: float
    max_score: float


@dataclass
class MutantRun:
    """One run of the candidate's own tests against one known-buggy variant."""

    name: str
    mistake: str
    parts: list[int]
    killed: bool
    status: str  # "failed" (a test caught it), "passed" (it survived), or a fault status
    failing_tests: list[str] = field(default_factory=list)
    duration_s: float = 0.0


@dataclass
class NotCounted:
    """A mutant of the assigned parts left out of the testing fraction (see the rubric)."""

    name: str
    mistake: str
    dimensions: list[str]  # of the checks it declares


@dataclass
class TestingResult:
    """The testing dimension: the candidate's own tests against the reference and mutants.

    ``verdict``: "scored" (they passed on the reference and ran against the mutants),
    "no_tests", "fails_on_reference" (0 points; ``failing_on_reference`` names them),
    or "infra_error" (the kit failed; charged nothing, counted as nothing).
    """

    __test__ = False  # not a pytest test class, whatever its name

    points: float
    max_points: float
    verdict: str
    summary: str
    test_files: list[str] = field(default_factory=list)
    tests_on_reference: int = 0
    failing_on_reference: list[str] = field(default_factory=list)
    mutants: list[MutantRun] = field(default_factory=list)
    duration_s: float = 0.0
    not_counted: list[NotCounted] = field(default_factory=list)

    @property
    def caught(self) -> list[MutantRun]:
        return [m for m in self.mutants if m.killed]

    @property
    def missed(self) -> list[MutantRun]:
        return [m for m in self.mutants if not m.killed]


@dataclass
class HealthSignal:
    """One code-health measurement, shown as a signal against the rubric's limit."""

    id: str  # "ruff", "mypy", "complexity", "lines", "docstrings"
    title: str
    value: float
    limit: float
    ok: bool
    details: list[str] = field(default_factory=list)


@dataclass
class CodeHealthResult:
    points: float
    max_points: float
    signals: list[HealthSignal]
    files: list[str]
    isolation: str  # how the tools ran
    error: str | None = None
    note: str | None = None  # why the points differ from the signals (e.g. nothing passed)


@dataclass
class IntegritySignal:
    """Something in the submission that tests have no business needing (information only)."""

    file: str
    line: int
    what: str


@dataclass
class Report:
    kit_version: str
    exercise: str
    exercise_version: str
    parts: list[int]
    seed_profile: str
    seed_profile_sha256: str
    submission: str
    submission_sha256: str
    isolation: str
    score: float
    max_score: float
    dimensions: dict[str, DimensionScore]
    scorecard: dict[str, str]
    not_measured: list[str]
    checks: list[CheckResult]
    created_at: str
    duration_s: float
    infra_error: str | None = None
    redis: dict[str, str] | None = None  # {"source", "version"} when a Redis was used
    # What the isolation level gives and lacks; degraded: the plain subprocess level.
    isolation_detail: str = ""
    isolation_degraded: bool = False
    schema_version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    # Optional since kit 0.1 (schema 1 stays loadable): absent when not measured.
    testing: TestingResult | None = None
    code_health: CodeHealthResult | None = None
    integrity_signals: list[IntegritySignal] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status != "passed"]


def timeline_from_dict(data: dict[str, Any]) -> Timeline:
    """Rebuilds a Timeline from its JSON form."""
    return Timeline(
        **{
            **data,
            "spans": [Span(**s) for s in data.get("spans", [])],
            "marks": [Mark(**m) for m in data.get("marks", [])],
        }
    )


def evidence_from_dict(data: dict[str, Any]) -> Evidence:
    """Rebuilds Evidence from its JSON form; reports from before ``timeline`` lack it."""
    timeline = data.get("timeline")
    return Evidence(**{**data, "timeline": timeline_from_dict(timeline) if timeline else None})


def check_from_dict(data: dict[str, Any]) -> CheckResult:
    """Rebuilds a CheckResult from its JSON form (``asdict`` of one)."""
    evidence = evidence_from_dict(data["evidence"]) if data["evidence"] else None
    return CheckResult(**{**data, "evidence": evidence})


def report_from_dict(data: dict[str, Any]) -> Report:
    """Rebuilds a Report from its ``report.json`` form (for ``compare`` and tests)."""
    checks = [check_from_dict(c) for c in data["checks"]]
    dims = {k: DimensionScore(**v) for k, v in data["dimensions"].items()}
    skip = ("checks", "dimensions", "testing", "code_health", "integrity_signals")
    fields = {k: v for k, v in data.items() if k not in skip}
    testing = data.get("testing")
    health = data.get("code_health")
    signals = data.get("integrity_signals")
    return Report(
        **fields,
        checks=checks,
        dimensions=dims,
        testing=TestingResult(
            **{
                **testing,
                "mutants": [MutantRun(**m) for m in testing["mutants"]],
                "not_counted": [NotCounted(**m) for m in testing.get("not_counted", [])],
            }
        )
        if testing
        else None,
        code_health=CodeHealthResult(
            **{**health, "signals": [HealthSignal(**s) for s in health["signals"]]}
        )
        if health
        else None,
        integrity_signals=[IntegritySignal(**s) for s in signals] if signals is not None else None,
    )
