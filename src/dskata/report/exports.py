"""Exports for other tools: JUnit XML (``report.junit.xml``) and Gradescope's ``results.json``.

Both are written next to ``report.json`` on every grading, not behind a flag: they
cost a few milliseconds, CI jobs and Gradescope autograders pick up a fixed file
name, and one more flag would be one more way to forget them.

JUnit is built with ``xml.etree.ElementTree`` rather than a library: ``junit-xml``
has had no release since 2020 (unmaintained), and ``junitparser``, though kept, is a
reader and merger whose writer would be a runtime dependency for what is six
element types. ElementTree escapes text and attributes and keeps attribute order,
so the same report gives the same bytes. The shape is the common one CI tools read
(Ant/Jenkins ``JUnit.xsd``): ``testsuites/testsuite[@id,@package,@name,@timestamp,
@hostname,@tests,@failures,@errors,@skipped,@time]/properties, testcase[@name,
@classname,@time]/(failure|error|skipped), system-out``.

The testing and code-health dimensions, measured outside the checks, appear in both
as one entry each (``TESTING``, ``CODE-HEALTH``; see ``quality_entries``): passed when
they earned all their points, a failure otherwise (with the caught/missed mutants or
the signals over their limits), an error when the kit failed to measure them.
Integrity signals, which never carry points, are told in JUnit's ``system-out`` and
Gradescope's top-level ``output``.

Status mapping (the candidate is never charged for the kit's fault):

=====================  ===================================
passed                 a bare testcase
not attempted          ``<skipped>``
infra error            ``<error>`` (the kit's fault)
every other status     ``<failure type="<status>">``: summary + story
=====================  ===================================
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dskata.report import _format
from dskata.results import CheckResult, Report
from dskata.scoring import earned_points

# Gradescope shows a test's output to whoever may see the test. The evidence tells
# the hidden checks' cases, so it becomes visible to candidates only when the staff
# publish grades; staff see it at once.
GRADESCOPE_VISIBILITY = "after_published"


def evidence_text(check: CheckResult) -> str:
    """The failure text of a check: summary, story, counterexample, faults, log, replay."""
    ev = check.evidence
    parts = [ev.summary if ev else f"{_format.status_word(check.status)}: no evidence recorded"]
    if ev and ev.story:
        parts.append(
            "What happened:\n" + "\n".join(f"  {i}. {line}" for i, line in enumerate(ev.story, 1))
        )
    if ev and ev.counterexample:
        parts.append("Counterexample:\n" + ev.counterexample)
    if ev and ev.fault_schedule:
        parts.append("Fault schedule:\n" + ev.fault_schedule)
    if ev and ev.log_excerpt:
        parts.append("Candidate output (excerpt):\n" + ev.log_excerpt)
    if check.replay:
        parts.append("Replay: " + check.replay)
    return "\n\n".join(parts)


# Characters XML 1.0 cannot hold at all, even escaped; candidate output may carry them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """``text`` with characters XML cannot carry shown as ``\\xNN``."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@dataclass(frozen=True)
class QualityEntry:
    """The testing or code-health result as one test-like entry of an export."""

    id: str
    title: str
    dimension: str
    points: float
    max_points: float
    outcome: str  # "passed", "failed", "error" (the kit's fault: never charged)
    message: str
    text: str
    duration_s: float = 0.0


def quality_entries(report: Report) -> list[QualityEntry]:
    """The report's testing and code-health results, in that order (absent: none)."""
    entries: list[QualityEntry] = []
    t = report.testing
    if t is not None:
        lines = [t.summary]
        if t.mutants:
            lines.append("Your tests caught: " + ("; ".join(m.mistake for m in t.caught) or "none"))
            lines.append("Missed: " + ("; ".join(m.mistake for m in t.missed) or "none"))
        lines += [f"Fails on a correct solution: {n}" for n in t.failing_on_reference]
        if t.not_counted:
            lines.append("Not counted: " + "; ".join(n.mistake for n in t.not_counted))
        lines += [f"Test file: {f}" for f in t.test_files]
        outcome = (
            "error"
            if t.verdict == "infra_error"
            else "passed"
            if t.points >= t.max_points
            else "failed"
        )
        entries.append(
            QualityEntry(
                "TESTING", "the candidate's own tests against the known mistakes", "testing",
                t.points, t.max_points, outcome, t.summary, "\n".join(lines), t.duration_s,
            )
        )  # fmt: skip
    h = report.code_health
    if h is not None:
        over = [s for s in h.signals if not s.ok]
        if h.error is not None:
            outcome, message = "error", f"not measured: {h.error}"
        else:
            outcome = "passed" if h.points >= h.max_points else "failed"
            message = (
                f"{len(over)} of {len(h.signals)} signals over their limit" if over else "all ok"
            )
            if h.note:
                message += f"; {h.note}"
        lines = [message] + [
            f"{s.title}: {_format.num(s.value)} (limit {_format.num(s.limit)})"
            + ("" if s.ok else " over: " + "; ".join(s.details[:3]))
            for s in h.signals
        ]
        entries.append(
            QualityEntry(
                "CODE-HEALTH", "code-health signals (lint, types, complexity, size, docstrings)",
                "code health", h.points, h.max_points, outcome, message, "\n".join(lines),
            )
        )  # fmt: skip
    return entries


def _integrity_lines(report: Report) -> list[str]:
    return [
        f"integrity signal (information only): {s.file}:{s.line} {s.what}"
        for s in report.integrity_signals or []
    ]


def _timestamp(created_at: str) -> str:
    """ISO 8601 without a zone, in UTC, as the JUnit schema wants it."""
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return "1970-01-01T00:00:00"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _secs(value: float) -> str:
    return f"{value:.3f}"


def junit_xml(report: Report) -> str:
    """Returns ``report.junit.xml``: one testsuite, one testcase per check."""
    quality = quality_entries(report)
    failures = sum(
        c.status not in ("passed", "not_attempted", "infra_error") for c in report.checks
    ) + sum(q.outcome == "failed" for q in quality)
    errors = sum(c.status == "infra_error" for c in report.checks) + sum(
        q.outcome == "error" for q in quality
    )
    skipped = sum(c.status == "not_attempted" for c in report.checks)
    counts = {
        "tests": str(len(report.checks) + len(quality)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": _secs(report.duration_s),
    }
    root = ET.Element("testsuites", {"name": f"dskata {report.exercise}", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "id": "0",
            "package": f"dskata.{report.exercise}",
            "name": _xml(f"{report.exercise} {report.exercise_version}: {report.submission}"),
            "timestamp": _timestamp(report.created_at),
            "hostname": "localhost",
            **counts,
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in _properties(report):
        ET.SubElement(props, "property", {"name": name, "value": _xml(value)})
    for check in report.checks:
        dimension = check.dimension.replace(" ", "_")
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "name": _xml(f"{check.id}: {check.title}"),
                "classname": f"dskata.{report.exercise}.part{check.part}.{dimension}",
                "time": _secs(check.duration_s),
            },
        )
        _outcome(case, check)
    for q in quality:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "name": _xml(f"{q.id}: {q.title}"),
                "classname": f"dskata.{report.exercise}.{q.dimension.replace(' ', '_')}",
                "time": _secs(q.duration_s),
            },
        )
        if q.outcome != "passed":
            tag = "error" if q.outcome == "error" else "failure"
            kind = q.dimension.replace(" ", "_")
            element = ET.SubElement(
                case, tag, {"message": _xml(_format.one_line(q.message)), "type": kind}
            )
            element.text = _xml(q.text)
    out = ET.SubElement(suite, "system-out")
    out.text = f"score {_format.num(report.score)} / {_format.num(report.max_score)}"
    for line in _integrity_lines(report):
        out.text += "\n" + _xml(line)
    if report.infra_error:
        out.text += f"\ninfra error (the kit's fault): {_xml(report.infra_error)}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _properties(report: Report) -> list[tuple[str, str]]:
    return [
        ("kit_version", report.kit_version),
        ("exercise", report.exercise),
        ("exercise_version", report.exercise_version),
        ("parts", _format.parts(report)),
        ("seed_profile", report.seed_profile),
        ("seed_profile_sha256", report.seed_profile_sha256),
        ("submission_sha256", report.submission_sha256),
        ("isolation", report.isolation),
        ("score", _format.num(report.score)),
    ]


def _outcome(case: ET.Element, check: CheckResult) -> None:
    if check.status == "passed":
        return
    summary = check.evidence.summary if check.evidence else _format.status_word(check.status)
    if check.status == "not_attempted":
        ET.SubElement(case, "skipped", {"message": "not attempted (the stub is untouched)"})
        return
    tag = "error" if check.status == "infra_error" else "failure"
    element = ET.SubElement(
        case, tag, {"message": _xml(_format.one_line(summary)), "type": check.status}
    )
    element.text = _xml(evidence_text(check))


def gradescope_results(report: Report) -> dict[str, Any]:
    """Returns a Gradescope autograder ``results.json`` document.

    Points are the checks' own (they sum to ``score``); the report's 0–100 score is
    in ``output``. Only a passed check is "passed", as in the report.
    """
    tests = [
        {
            "name": f"{c.id}: {c.title}",
            "number": c.id,
            "score": earned_points(c),
            "max_score": float(c.max_points),
            "status": "passed" if c.status == "passed" else "failed",
            "visibility": GRADESCOPE_VISIBILITY,
            "tags": [f"part {c.part}", c.dimension],
            "output": "passed"
            if c.status == "passed"
            else f"{_format.status_word(c.status)}: {evidence_text(c)}",
        }
        for c in report.checks
    ]
    quality = quality_entries(report)
    tests += [
        {
            "name": f"{q.id}: {q.title}",
            "number": q.id,
            "score": float(q.points),
            "max_score": 0.0 if q.outcome == "error" else float(q.max_points),  # never charged
            "status": "passed" if q.outcome == "passed" else "failed",
            "visibility": GRADESCOPE_VISIBILITY,
            "tags": [q.dimension],
            "output": q.text,
        }
        for q in quality
    ]
    earned = round(sum(t["score"] for t in tests), 6) + 0.0  # type: ignore[misc]
    available = round(sum(t["max_score"] for t in tests), 6) + 0.0  # type: ignore[misc]
    output = (
        f"dskata {report.kit_version}, {report.exercise} {report.exercise_version}, parts "
        f"{_format.parts(report)}, seeds {report.seed_profile}: score "
        f"{_format.num(report.score)} / {_format.num(report.max_score)}"
    )
    if report.infra_error:
        output += f"\nInfra error — the kit failed, not the candidate: {report.infra_error}"
    for line in _integrity_lines(report):
        output += "\n" + line
    return {
        "score": earned,
        "max_score": available,
        "output": output,
        "visibility": GRADESCOPE_VISIBILITY,
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def gradescope_json(report: Report) -> str:
    return json.dumps(gradescope_results(report), indent=2, ensure_ascii=False) + "\n"
