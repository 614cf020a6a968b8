"""Report writers: the JSON schema, the JSON round trip, Markdown, HTML and terminal views."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from report_fixtures import golden, make_report
from rich.console import Console

from dskata.catalog import DIMENSIONS, NOT_MEASURED, SCORECARD_ROWS
from dskata.errors import KitError
from dskata.report import (
    REPORT_FILES,
    InvalidReport,
    gradescope_json,
    junit_xml,
    load_report,
    print_summary,
    render_html,
    render_markdown,
    schema,
    validate,
    write_all,
    write_json,
)
from dskata.report.json_report import dumps
from dskata.results import STATUSES, Report
from dskata.scoring import LEVELS


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
    # testing, code_health and integrity_signals are optional: schema-1 reports from
    # before them still load.
    optional = {"testing", "code_health", "integrity_signals"}
    assert set(top["required"]) == set(data) - optional == set(top["properties"]) - optional
    check = top["$defs"]["check"]
    assert set(check["required"]) == set(data["checks"][0]) == set(check["properties"])
    evidence = top["$defs"]["evidence"]
    assert set(evidence["required"]) <= set(data["checks"][2]["evidence"])
    assert set(data["checks"][2]["evidence"]) == set(evidence["properties"])
    # Fields added after schema version 1 shipped are optional, so older reports stay valid.
    assert set(evidence["properties"]) - set(evidence["required"]) == {"timeline"}


def test_a_report_from_before_timelines_still_loads(report: Report, tmp_path: Path) -> None:
    data = report.to_dict()
    for check in data["checks"]:
        if check["evidence"]:
            del check["evidence"]["timeline"]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_report(path)
    assert loaded.checks[2].evidence is not None
    assert loaded.checks[2].evidence.timeline is None


def test_report_validates(report: Report) -> None:
    validate(report.to_dict())


def _timeline(data: dict[str, Any]) -> dict[str, Any]:
    timeline: dict[str, Any] = data["checks"][2]["evidence"]["timeline"]
    return timeline


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
        ("timeline span of unknown kind", lambda d: _timeline(d)["spans"][0].update(kind="x")),
        ("timeline lane as a string", lambda d: _timeline(d)["marks"][0].update(lane="0")),
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
    assert [p.name for p in paths] == list(REPORT_FILES)
    assert load_report(paths[0]) == report
    assert paths[1].read_text(encoding="utf-8") == render_markdown(report)
    assert paths[2].read_text(encoding="utf-8") == render_html(report)
    assert paths[3].read_text(encoding="utf-8") == junit_xml(report)
    assert paths[4].read_text(encoding="utf-8") == gradescope_json(report)
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)


def test_write_all_writes_nothing_for_an_invalid_report(report: Report, tmp_path: Path) -> None:
    report.score = -1.0
    with pytest.raises(KitError):
        write_all(report, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- report.md -------------------------------------------------------------------------


def test_json_matches_golden(report: Report) -> None:
    golden("report.json", dumps(report))


def test_markdown_matches_golden(report: Report) -> None:
    golden("report.md", render_markdown(report))


def test_markdown_needs_no_html(report: Report) -> None:
    text = render_markdown(report)
    # Only the escaped candidate text may mention a tag; nothing is markup.
    assert not re.search(r"(?<!\\)<[a-zA-Z/]", text)


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
    assert "### RL-THREADS\n\n**Concurrent callers never exceed the limit | per key**" in text
    # Text the candidate's code may have influenced cannot open an HTML tag.
    assert "allows 2 \\<script>alert(1)\\</script>" in text
    for failed in ("RL-THREADS", "RL-REDIS-CUT", "RL-TESTS"):
        assert f"\n### {failed}\n" in text  # GitHub's anchor for it is the lower-cased id
        assert f"]({'#' + failed.lower()})" in text
    assert "## To ask in the debrief" in text
    assert "- **concurrency** (RL-THREADS): Which state do concurrent callers share" in text
    assert "| correctness | 10 | 10 | ██████████ |" in text
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
        '47.62 <span class="of">/ 100</span>',
        "2 of 5 checks passed",
        "meets bar",
        "To ask in the debrief",
        "What this report does not measure",
        "3 threads each called try_acquire(&#39;k&#39;) at t=0",
        "dskata grade ./alice --seeds default --check RL-THREADS",
        'id="check-rl-threads"',
        'href="#check-rl-threads"',
        "t=0.50 cut mid-reply",
        "Collaboration and communication",
    ):
        assert text in html, text
    assert "Infra error" not in html
    # Candidate-influenced text is escaped, never markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


def test_html_is_self_contained(report: Report) -> None:
    html = render_html(report)
    # The only URLs are the SVG namespaces, which name a vocabulary and fetch nothing.
    assert set(re.findall(r"https?://[^\s\"']+", html)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    assert not re.search(r"<(script|link|img|iframe|object|embed|image)\b", html)
    assert not re.search(r"\b(src|href)\s*=\s*(?![\"']?#)", html)
    assert "@import" not in html
    # url() only for the SVG's own clip paths, inside the page.
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", html))
    assert "<style>" in html
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_html_collapses_passed_checks_and_draws_the_charts(report: Report) -> None:
    html = render_html(report)
    details = html.split("<details>")[1].split("</details>")[0]
    assert "RL-BURST" in details and "RL-REFILL" in details
    assert "RL-THREADS" not in details
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    dims, race = svgs[0], svgs[1]
    assert len(svgs) == 2  # points by dimension, and RL-THREADS' timeline
    for name in ("correctness", "concurrency", "resilience", "testing"):
        assert f"{name}</text>" in dims  # measured: a bar each
    assert "10 / 10</text>" in dims and "0 / 5</text>" in dims
    assert "integrity</text>" not in dims  # not measured: said in the caption instead
    assert "Not measured in this grading: integrity, performance, code health." in html
    for lane in ("thread 0", "thread 1", "thread 2", "(the block)"):
        assert f"{lane}</text>" in race
    assert "rule broken" in race and "3 allowed &gt; burst 2" in race


def test_html_is_deterministic(report: Report) -> None:
    assert render_html(report) == render_html(make_report())


def test_html_charts_do_not_share_ids(report: Report) -> None:
    ids = re.findall(r'\bid="([^"]+)"', render_html(report))
    clip_ids = [i for i in ids if re.fullmatch(r"p[0-9a-f]{10}", i)]
    assert len(clip_ids) == len(set(clip_ids))


def test_html_says_loudly_when_the_kit_failed() -> None:
    html = render_html(make_report(infra_error="redis-server would not start"))
    body = html.split("<body>")[1]
    assert body.lstrip().startswith('<p class="banner" role="alert"')
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
