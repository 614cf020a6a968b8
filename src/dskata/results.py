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
    fields = {k: v for k, v in data.items() if k not in ("checks", "dimensions")}
    return Report(**fields, checks=checks, dimensions=dims)
