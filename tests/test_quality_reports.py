"""Own tests, code health and integrity signals in every output: report.json (schema),
report.md/html, JUnit, Gradescope and the committee comparison. Golden files of the
fixed synthetic report with all three filled in (``quality/``), reviewed on purpose."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import xmlschema
from report_fixtures import golden, make_report

from dskata.report import gradescope_json, junit_xml
from dskata.report.compare import build, compare_csv, render_compare_html, render_compare_md
from dskata.report.exports import gradescope_results
from dskata.report.html import render_html
from dskata.report.json_report import dumps, validate
from dskata.report.markdown import render_markdown
from dskata.results import (
    CodeHealthResult,
    HealthSignal,
    IntegritySignal,
    MutantRun,
    NotCounted,
    Report,
    TestingResult,
    report_from_dict,
)

JUNIT_XSD = Path(__file__).parent / "schemas" / "junit.xsd"
MISTAKES = {
    "no_lock": "no locking at all",
    "negative_elapsed": "a clock that goes backwards moves last backwards",
    "shared_bucket": "every key shares one bucket",
}


def with_quality(report: Report, caught: tuple[str, ...] = ("no_lock", "shared_bucket")) -> Report:
    runs = [
        MutantRun(name, mistake, [1], name in caught, "failed" if name in caught else "passed",
                  ["tests/test_mine.py::test_it"] if name in caught else [], 1.0)
        for name, mistake in MISTAKES.items()
    ]  # fmt: skip
    killed = sum(r.killed for r in runs)
    testing = TestingResult(
        points=10.0 * killed / len(runs),
        max_points=10.0,
        verdict="scored",
        summary=f"The candidate's tests caught {killed} of {len(runs)} known mistakes.",
        test_files=["tests/test_mine.py"],
        tests_on_reference=7,
        mutants=runs,
        duration_s=12.5,
        not_counted=[NotCounted("never_forgets", "keys are never forgotten", ["performance"])],
    )
    health = CodeHealthResult(
        points=3.0,
        max_points=4.0,
        signals=[
            HealthSignal("ruff", "ruff findings (E, F)", 2, 0, False, ["line 3: F401 unused"]),
            HealthSignal("mypy", "mypy errors", 0, 0, True),
            HealthSignal("complexity", "cyclomatic complexity", 4, 12, True, ["try_acquire"]),
            HealthSignal("lines", "lines of code", 80, 500, True),
        ],
        files=["rate_limiter.py"],
        isolation="subprocess+rlimits",
    )
    signals = [IntegritySignal("rate_limiter.py", 4, "imports gc")]
    return replace(report, testing=testing, code_health=health, integrity_signals=signals)


def test_report_json_with_quality_is_valid_and_round_trips() -> None:
    report = with_quality(make_report())
    data = json.loads(dumps(report))
    validate(data)
    assert report_from_dict(data) == report
    assert data["testing"]["not_counted"][0]["dimensions"] == ["performance"]


def test_markdown_tells_caught_missed_and_not_counted() -> None:
    page = render_markdown(with_quality(make_report()))
    assert "**Your tests caught:** no locking at all; every key shares one bucket" in page
    assert "**Missed:** a clock that goes backwards moves last backwards" in page
    assert "Not counted (caught only by performance checks" in page
    assert "imports gc" in page
    golden("quality/report.md", page)


def test_html_has_the_same_sections() -> None:
    page = render_html(with_quality(make_report()))
    for words in ("Your own tests (testing)", "Your tests caught:", "Missed:", "Not counted",
                  "Code health (signals, not verdicts)", "Integrity signals"):  # fmt: skip
        assert words in page


def test_junit_carries_testing_and_code_health_entries() -> None:
    report = with_quality(make_report())
    xml = junit_xml(report)
    xmlschema.XMLSchema(JUNIT_XSD).validate(xml)
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    cases = {c.get("name", "").split(":")[0]: c for c in suite.iter("testcase")}
    testing, health = cases["TESTING"], cases["CODE-HEALTH"]
    failure = testing.find("failure")
    assert failure is not None and failure.get("type") == "testing"
    assert "Missed: a clock that goes backwards" in (failure.text or "")
    assert health.find("failure") is not None  # one signal over its limit
    assert suite.get("tests") == str(len(report.checks) + 2)
    assert "imports gc" in (suite.findtext("system-out") or "")
    golden("quality/report.junit.xml", xml)


def test_junit_counts_a_kit_failure_to_measure_as_an_error() -> None:
    report = with_quality(make_report())
    assert report.testing is not None
    broken = replace(report, testing=replace(report.testing, verdict="infra_error"))
    suite = ET.fromstring(junit_xml(broken)).find("testsuite")
    assert suite is not None
    cases = {c.get("name", "").split(":")[0]: c for c in suite.iter("testcase")}
    assert cases["TESTING"].find("error") is not None


def test_gradescope_carries_testing_and_code_health_points() -> None:
    report = with_quality(make_report())
    data = gradescope_results(report)
    by_id = {t["number"]: t for t in data["tests"]}
    assert by_id["TESTING"]["score"] == report.testing.points if report.testing else False
    assert by_id["TESTING"]["max_score"] == 10.0
    assert "Your tests caught: no locking at all" in by_id["TESTING"]["output"]
    assert (by_id["CODE-HEALTH"]["score"], by_id["CODE-HEALTH"]["max_score"]) == (3.0, 4.0)
    assert data["score"] == round(sum(t["score"] for t in data["tests"]), 6)
    assert data["max_score"] == round(sum(t["max_score"] for t in data["tests"]), 6)
    assert "imports gc" in data["output"]
    golden("quality/results.json", gradescope_json(report))


def test_gradescope_never_charges_a_kit_failure() -> None:
    report = with_quality(make_report())
    assert report.testing is not None
    broken = replace(report, testing=replace(report.testing, verdict="infra_error", points=0.0))
    by_id = {t["number"]: t for t in gradescope_results(broken)["tests"]}
    assert (by_id["TESTING"]["score"], by_id["TESTING"]["max_score"]) == (0.0, 0.0)


def test_reports_without_quality_export_as_before() -> None:
    report = make_report()
    assert "TESTING" not in junit_xml(report)
    assert all(t["number"] != "TESTING" for t in gradescope_results(report)["tests"])


def _committee() -> list[tuple[Path, Report]]:
    alice = with_quality(make_report(), caught=("no_lock",))
    bob = with_quality(make_report(submission="bob"), caught=tuple(MISTAKES))
    carol = make_report(submission="carol")  # an older report: no own-tests section
    return [(Path(f"reports/{r.submission}/report.json"), r) for r in (alice, bob, carol)]


def test_compare_shows_each_candidates_caught_and_missed_mistakes() -> None:
    comparison = build(_committee())
    assert comparison.mutants == MISTAKES
    rows = {r.label: r for r in comparison.rows}
    assert rows["alice"].killed("no_lock") is True
    assert rows["alice"].killed("shared_bucket") is False
    assert rows["carol"].killed("no_lock") is None
    assert rows["bob"].testing_line == "3/3 caught"
    md = render_compare_md(comparison)
    assert "### Known mistakes caught by each candidate's own tests" in md
    assert "| every key shares one bucket |" in md
    html = render_compare_html(comparison)
    assert "Known mistakes caught by each candidate" in html
    golden("quality/compare.md", md)


def test_compare_csv_has_a_column_per_known_mistake() -> None:
    lines = compare_csv(build(_committee())).splitlines()
    header = lines[0].split(",")
    assert "mutants caught" in header and "caught: no_lock" in header
    by_label = {line.split(",")[1]: line.split(",") for line in lines[1:]}
    assert by_label["bob"][header.index("caught: negative_elapsed")] == "yes"
    assert by_label["alice"][header.index("caught: negative_elapsed")] == "no"
    assert by_label["carol"][header.index("caught: negative_elapsed")] == ""
