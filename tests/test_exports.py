"""The exports beside report.json: JUnit XML (valid against the common schema shape) and
Gradescope's results.json, both golden files of the fixed synthetic report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from report_fixtures import golden, make_report

from dskata.report import gradescope_json, junit_xml
from dskata.report.exports import gradescope_results
from dskata.results import Evidence, Report

JUNIT_XSD = Path(__file__).parent / "schemas" / "junit.xsd"


@pytest.fixture
def report() -> Report:
    return make_report()


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(JUNIT_XSD)


def test_junit_matches_golden(report: Report) -> None:
    golden("report.junit.xml", junit_xml(report))


def test_junit_is_valid_against_the_schema(
    report: Report, junit_schema: xmlschema.XMLSchema
) -> None:
    junit_schema.validate(junit_xml(report))


def test_the_schema_refuses_what_ci_tools_would(junit_schema: xmlschema.XMLSchema) -> None:
    # The schema can fail: a testcase without classname and time is not JUnit.
    bad = junit_xml(make_report()).replace(
        'classname="dskata.rate_limiter.part1.correctness"', "", 1
    )
    assert not junit_schema.is_valid(bad)


def test_junit_maps_statuses(report: Report) -> None:
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "1")
    cases = {c.get("name", "").split(":")[0]: c for c in suite.iter("testcase")}
    assert list(cases["RL-BURST"]) == []
    failure = cases["RL-THREADS"].find("failure")
    assert failure is not None and failure.get("type") == "failed"
    assert failure.get("message", "").startswith("3 calls were allowed")
    assert "3 threads each called try_acquire('k') at t=0" in (failure.text or "")
    assert "--check RL-THREADS" in (failure.text or "")
    timed_out = cases["RL-REDIS-CUT"].find("failure")
    assert timed_out is not None and timed_out.get("type") == "timed_out"
    assert cases["RL-TESTS"].find("skipped") is not None


def test_junit_counts_a_kit_failure_as_an_error_not_a_failure(report: Report) -> None:
    report.checks[3].status = "infra_error"
    suite = ET.fromstring(junit_xml(report)).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")


def test_junit_survives_control_characters_in_candidate_output(
    report: Report, junit_schema: xmlschema.XMLSchema
) -> None:
    evidence = report.checks[2].evidence
    assert isinstance(evidence, Evidence)
    evidence.log_excerpt = "bell\x07 nul\x00 esc\x1b[31m"
    text = junit_xml(report)
    junit_schema.validate(text)
    assert "bell\\x07 nul\\x00 esc\\x1b[31m" in text


def test_gradescope_matches_golden(report: Report) -> None:
    golden("results.json", gradescope_json(report))


def test_gradescope_shape(report: Report) -> None:
    data = gradescope_results(report)
    assert data["score"] == sum(t["score"] for t in data["tests"]) == 10.0
    assert data["max_score"] == 21.0
    assert "47.62 / 100" in data["output"]
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "visibility", "output"}
        assert test["status"] in ("passed", "failed")
    by_id = {t["number"]: t for t in data["tests"]}
    assert by_id["RL-BURST"]["status"] == "passed"
    assert by_id["RL-TESTS"]["status"] == "failed" and by_id["RL-TESTS"]["score"] == 0
    assert "3 threads each called" in by_id["RL-THREADS"]["output"]
    json.dumps(data, allow_nan=False)
