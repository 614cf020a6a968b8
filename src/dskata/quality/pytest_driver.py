"""Child-side driver that runs the candidate's own tests with pytest, inside the sandbox.

Loaded by ``sandbox/shim.py`` like an exercise driver: the shim applies the same
limits, imports the module under test (the reference or a mutant, put in place of
the candidate's module) by file path and registers it under the contract's name, so
the candidate's ``import rate_limiter`` finds exactly that module. ``op_run`` then
runs pytest in this process and answers with each test's outcome. Everything it
says is untrusted: the parent checks every type.
"""

from __future__ import annotations

from typing import Any


class _Outcomes:
    """A pytest plugin object that records each test's outcome (setup, call, teardown)."""

    def __init__(self) -> None:
        self.results: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            self.results[report.nodeid] = "failed"
        elif report.when == "call" or report.skipped:
            self.results.setdefault(report.nodeid, report.outcome)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.results[report.nodeid or "collection"] = "error"


class Driver:
    def __init__(self, candidate: Any) -> None:
        self.candidate = candidate

    def op_run(self, args: list[str]) -> dict[str, Any]:
        import pytest

        outcomes = _Outcomes()
        code = pytest.main(list(args), plugins=[outcomes])
        return {"exit": int(code), "tests": outcomes.results}
