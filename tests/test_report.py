"""Report writers: the JSON schema, the JSON round trip, Markdown, HTML and terminal views."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from rich.console import Console

from dskata.catalog import DIMENSIONS, NOT_MEASURED, SCORECARD_ROWS, Exercise, Part, Threshold
from dskata.errors import KitError
from dskata.report import (
    InvalidReport,
    load_report,
    print_summary,
    render_html,
    render_markdown,
    schema,
    validate,
    write_all,
    write_json,
)
from dskata.results import STATUSES, CheckResult, Evidence, Report, Status
from dskata.scoring import LEVELS, score

GOLDEN = Path(__file__).parent / "golden" / "report.md"
SEED_SHA = "3f2a9c4be1d07788a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
SUBMISSION_SHA = "0123456789abcdef" * 4


def _check(
    id: str,
    title: str,
    part: int,
    dimension: str,
    max_points: float,
    status: Status,
    evidence: Evidence | None = None,
) -> CheckResult:
    return CheckResult(
        id=id,
        title=title,
        part=part,
        dimension=dimension,
        points=max_points if status == "passed" else 0.0,
        max_points=max_points,
        status=status,
        evidence=evidence,
        replay=f"dskata grade ./alice --seeds default --check {id}",
        duration_s=0.4,
    )


def make_report(infra_error: str | None = None) -> Report:
    """A synthetic grading: two passes, a failure with a story, a timeout, a stub left alone."""
    checks = [
        _check("RL-BURST", "A full bucket allows `burst` calls", 1, "correctness", 5, "passed"),
        _check("RL-REFILL", "Tokens come back at the rate | key", 1, "correctness", 5, "passed"),
        _check(
            "RL-THREADS",
            "Concurrent callers never exceed the limit | per key",
            2,
            "concurrency",
            5,
            "failed",
            Evidence(
                summary="3 calls were allowed where burst=2 allows 2 <script>alert(1)</script>",
                story=[
                    "RateLimiter(rate=1/s, burst=2) created at t=0",
                    "3 threads each called try_acquire('k') at t=0",
                    "3 were allowed; at most 2 may be",
                ],
                counterexample="threads=3, burst=2, rate=1.0\nkeys=['k']\n```",
                reproduce_blob="@reproduce_failure('6.100.0', b'AXicY2BgAAAABAAB')",
                fault_schedule=None,
                log_excerpt="[worker-2] acquired k (tokens=-1)",
            ),
        ),
        _check(
            "RL-REDIS-CUT",
            "A cut Redis connection fails closed within the timeout",
            2,
            "resilience",
            4,
            "timed_out",
            Evidence(
                summary="no answer within 10.0 s after the proxy cut the connection",
                fault_schedule="t=0.50 cut mid-reply\nt=1.00 restore",
            ),
        ),
        _check("RL-TESTS", "Your tests kill the known mutants", 1, "testing", 2, "not_attempted"),
    ]
    exercise = Exercise(
        slug="rate_limiter",
        title="Rate limiter",
        version="1.2.0",
        module="rate_limiter.py",
        summary="",
        parts=(Part(1, "Local", 30), Part(2, "Distributed", 30)),
        rubric={"Distributed system design (failure handling)": Threshold(0.5, 0.75)},
    )
    scored = score(checks, exercise)
    return Report(
        kit_version="0.1.0",
        exercise=exercise.slug,
        exercise_version=exercise.version,
        parts=[1, 2],
        seed_profile="default",
        seed_profile_sha256=SEED_SHA,
        submission="alice",
        submission_sha256=SUBMISSION_SHA,
        isolation="bubblewrap",
        score=scored.score,
        max_score=scored.max_score,
        dimensions=scored.dimensions,
        scorecard=scored.scorecard,
        not_measured=list(NOT_MEASURED),
        checks=checks,
        created_at="2025-03-14T09:30:00+00:00",
        duration_s=12.34,
        infra_error=infra_error,
    )


@pytest.fixture
def report() -> Report:
    return make_report()


# --- scoring of the synthetic report --------------------------------------------------


def test_synthetic_report_scores(report: Report) -> None:
    # earned 10 of 5 + 5 + 5 + 4 + 2 = 21
    assert report.score == 47.62
    assert report.dimensions["correctness"].score == 10.0
    assert report.dimensions["concurrency"].max_score == 5.0
    assert report.scorecard == {
        "Coding & correctness": "meets bar",  # 10 of 15
        "Data consistency & integrity": "not measured",
        "Distributed system design (failure handling)": "below bar",
        "Performance engineering": "not measured",
        "Coding & correctness (tests)": "below bar",
        "Coding & correctness (clarity)": "not measured",
    }


# --- schema ----------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_enums_follow_the_code() -> None:
    defs = schema()["$defs"]
    props = schema()["properties"]
    assert defs["status"]["enum"] == list(STATUSES)
    assert defs["dimension"]["enum"] == list(DIMENSIONS)
    assert props["scorecard"]["propertyNames"]["enum"] == list(SCORECARD_ROWS)
    assert props["scorecard"]["additionalProperties"]["enum"] == list(LEVELS)
    assert props["schema_version"] == {"const": 1}


def test_schema_requires_every_field(report: Report) -> None:
    data = report.to_dict()
    top = schema()
    assert set(top["required"]) == set(data) == set(top["properties"])
    check = top["$defs"]["check"]
    assert set(check["required"]) == set(data["checks"][0]) == set(check["properties"])
    evidence = top["$defs"]["evidence"]
    assert set(evidence["required"]) == set(data["checks"][2]["evidence"])


def test_report_validates(report: Report) -> None:
    validate(report.to_dict())


def _mutated(report: Report, change: Any) -> dict[str, Any]:
    data = copy.deepcopy(report.to_dict())
    change(data)
    return data


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("score as a string", lambda d: d.update(score="47.62")),
        ("part as a float", lambda d: d["checks"][0].update(part=1.0)),
        ("points as a bool", lambda d: d["checks"][0].update(points=True)),
        ("unknown status", lambda d: d["checks"][0].update(status="exploded")),
        ("unknown dimension", lambda d: d["checks"][0].update(dimension="vibes")),
        ("unknown level", lambda d: d["scorecard"].update({"Coding & correctness": "great"})),
        ("unknown top-level key", lambda d: d.update(colour="blue")),
        ("unknown check key", lambda d: d["checks"][0].update(weight=2)),
        ("unknown evidence key", lambda d: d["checks"][2]["evidence"].update(mood="sad")),
        ("missing field", lambda d: d.pop("infra_error")),
        ("missing evidence field", lambda d: d["checks"][2]["evidence"].pop("story")),
        ("story of non-strings", lambda d: d["checks"][2]["evidence"].update(story=[1])),
        ("bad sha256", lambda d: d.update(seed_profile_sha256="XYZ")),
        ("other schema version", lambda d: d.update(schema_version=2)),
    ],
)
def test_invalid_reports_are_rejected(report: Report, what: str, change: Any) -> None:
    with pytest.raises(InvalidReport):
        validate(_mutated(report, change))


def test_rejection_names_the_problem(report: Report) -> None:
    bad = _mutated(report, lambda d: d["checks"][3].update(status="exploded"))
    with pytest.raises(InvalidReport, match=r"\$\.checks\[3\]\.status: 'exploded'"):
        validate(bad)


# --- report.json -----------------------------------------------------------------------


def test_round_trip(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(report, path)
    assert load_report(path) == report
    assert json.loads(path.read_text(encoding="utf-8"))["schema_version"] == 1


def test_write_json_refuses_an_invalid_report(report: Report, tmp_path: Path) -> None:
    report.checks[0].status = "exploded"  # type: ignore[assignment]
    path = tmp_path / "report.json"
    with pytest.raises(KitError, match="invalid report"):
        write_json(report, path)
    assert list(tmp_path.iterdir()) == []


def test_write_json_refuses_nan(report: Report, tmp_path: Path) -> None:
    report.duration_s = float("nan")
    with pytest.raises(KitError):
        write_json(report, tmp_path / "report.json")


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"schema_version": 1}'])
def test_load_report_rejects_what_is_not_a_report(tmp_path: Path, text: str) -> None:
    path = tmp_path / "report.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidReport, match=re.escape(str(path))):
        load_report(path)


def test_load_report_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidReport, match="cannot read report"):
        load_report(tmp_path / "nope.json")


def test_write_all(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "alice"
    paths = write_all(report, out)
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html"]
    assert load_report(paths[0]) == report
    assert paths[1].read_text(encoding="utf-8") == render_markdown(report)
    assert paths[2].read_text(encoding="utf-8") == render_html(report)
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]


def test_write_all_writes_nothing_for_an_invalid_report(report: Report, tmp_path: Path) -> None:
    report.score = -1.0
    with pytest.raises(KitError):
        write_all(report, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- report.md -------------------------------------------------------------------------


def test_markdown_matches_golden(report: Report) -> None:
    text = render_markdown(report)
    if os.environ.get("DSKATA_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.is_file(), "no golden file: rerun with DSKATA_UPDATE_GOLDEN=1"
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "report.md changed; if intended, rerun with DSKATA_UPDATE_GOLDEN=1 and review the diff"
    )


def test_markdown_content(report: Report) -> None:
    text = render_markdown(report)
    assert "Infra error" not in text
    assert "**Score: 47.62 / 100**" in text
    assert "rate_limiter 1.2.0" in text
    assert "(`3f2a9c4be1d0`)" in text
    assert "| Coding & correctness | meets bar |" in text
    assert "1. RateLimiter(rate=1/s, burst=2) created at t=0" in text
    assert "3. 3 were allowed; at most 2 may be" in text
    # The counterexample ends in ``` so its fence must be longer.
    assert "````\nthreads=3, burst=2, rate=1.0\nkeys=['k']\n```\n````" in text
    assert "```sh\ndskata grade ./alice --seeds default --check RL-THREADS\n```" in text
    assert "[worker-2] acquired k (tokens=-1)" in text
    assert "RL-THREADS — Concurrent callers never exceed the limit | per key" in text
    # Text the candidate's code may have influenced cannot open an HTML tag.
    assert "allows 2 \\<script>alert(1)\\</script>" in text
    for failed in ("RL-THREADS", "RL-REDIS-CUT", "RL-TESTS"):
        assert f'<a id="check-{failed.lower()}"></a>{failed}' in text
        assert f"](#check-{failed.lower()})" in text
    passed_table = text.split("## Passed checks")[1]
    assert "| RL-BURST | 1 | correctness | 5 / 5 |" in passed_table
    assert "RL-THREADS" not in passed_table
    assert "| Tokens come back at the rate \\| key |" in passed_table
    assert text.rstrip().endswith(f"Not measured by this kit: {'; '.join(NOT_MEASURED)}.")


def test_markdown_says_loudly_when_the_kit_failed() -> None:
    text = render_markdown(make_report(infra_error="redis-server would not start"))
    first = text.splitlines()[0]
    assert "Infra error — the kit failed, not the candidate: redis-server would not start" in first


# --- report.html -----------------------------------------------------------------------


def test_html_content(report: Report) -> None:
    html = render_html(report)
    for text in (
        "alice",
        "rate_limiter 1.2.0",
        "3f2a9c4be1d0",
        "bubblewrap",
        "Score: 47.62 / 100",
        "meets bar",
        "3 threads each called try_acquire(&#39;k&#39;) at t=0",
        "dskata grade ./alice --seeds default --check RL-THREADS",
        'id="check-rl-threads"',
        'href="#check-rl-threads"',
        "t=0.50 cut mid-reply",
        "Not measured by this kit:",
    ):
        assert text in html, text
    assert "Infra error" not in html
    # Candidate-influenced text is escaped, never markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


def test_html_is_self_contained(report: Report) -> None:
    html = render_html(report)
    assert "http" not in html
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html)
    assert not re.search(r"\b(src|href)\s*=\s*(?![\"']?#)", html)
    assert "@import" not in html and "url(" not in html
    assert "<style>" in html


def test_html_collapses_passed_checks_and_draws_a_chart(report: Report) -> None:
    html = render_html(report)
    details = html.split("<details>")[1].split("</details>")[0]
    assert "RL-BURST" in details and "RL-REFILL" in details
    assert "RL-THREADS" not in details
    svg = html.split("<svg")[1].split("</svg>")[0]
    for dimension in DIMENSIONS:
        assert f">{dimension}</text>" in svg
    # correctness: 10 of 10 at the largest max, so both bars are full width.
    assert svg.count('width="360.0"') == 2
    assert ">10 / 10</text>" in svg


def test_html_says_loudly_when_the_kit_failed() -> None:
    html = render_html(make_report(infra_error="redis-server would not start"))
    body = html.split("<body>")[1]
    assert body.lstrip().startswith('<p class="infra"')
    assert "Infra error — the kit failed, not the candidate: redis-server would not start" in body


# --- terminal --------------------------------------------------------------------------


def test_terminal_summary(report: Report) -> None:
    console = Console(record=True, width=120, color_system=None)
    print_summary(report, console)
    text = console.export_text()
    for check in report.checks:
        assert check.id in text
    assert "Score: 47.62 / 100" in text
    assert "meets bar" in text
    assert "replay: dskata grade ./alice --seeds default --check RL-THREADS" in text
    assert "3 calls were allowed where burst=2 allows 2" in text
    assert "timed out" in text and "not attempted" in text
    assert "Infra error" not in text


def test_terminal_summary_infra_error() -> None:
    console = Console(record=True, width=120, color_system=None)
    print_summary(make_report(infra_error="redis-server would not start"), console)
    first = console.export_text().splitlines()[0]
    assert first.startswith("Infra error — the kit failed, not the candidate")
