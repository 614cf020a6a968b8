"""The code-health dimension: signals, not verdicts, about the candidate's module.

ruff (the rule families the rubric names, from the kit's pinned ``ruff.toml``), mypy
(default mode, missing imports ignored), radon's cyclomatic complexity of the worst
function and source lines, and public classes without a docstring. Each signal within
the rubric's limit earns an equal share of ``[rubric.code_health] points``.

Isolation: the tools run on the candidate's module only, each in a subprocess with the
sandbox's rlimits (CPU, memory, file size, open files), its own process group killed
whole at a wall-time limit, a scrubbed environment and a scratch working folder
(``isolation = "subprocess+rlimits"``); not in a namespace. The tools only read the
file, never import or run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from dskata.catalog import HealthRubric
from dskata.results import CodeHealthResult, HealthSignal
from dskata.sandbox.launcher import Limits, scrubbed_env

ISOLATION = "subprocess+rlimits"
RUFF_CONFIG = Path(__file__).with_name("ruff.toml")
METRICS = Path(__file__).with_name("_metrics.py")
TOOL_TIMEOUT_S = 60.0
MAX_DETAILS = 15
# Applies the limits, then becomes the tool: no preexec_fn (not thread-safe).
_LIMITED = (
    "import os, resource, sys, json; "
    "[resource.setrlimit(getattr(resource, k), (v, v)) for k, v in json.loads(sys.argv[1])]; "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


class ToolFailed(RuntimeError):
    """Raised when a tool could not run or gave an answer the kit cannot read."""


def _limits() -> list[tuple[str, int]]:
    lim = Limits(cpu_s=int(TOOL_TIMEOUT_S))
    return [
        ("RLIMIT_CPU", lim.cpu_s),
        ("RLIMIT_AS", lim.address_space),
        ("RLIMIT_FSIZE", lim.file_size),
        ("RLIMIT_NOFILE", lim.open_files),
    ]


def run_tool(argv: list[str], scratch: Path) -> tuple[int, str]:
    """Runs ``argv`` limited; returns (exit code, stdout). Raises ToolFailed on a hang."""
    scratch.mkdir(parents=True, exist_ok=True)
    wrapped = [sys.executable, "-s", "-c", _LIMITED, json.dumps(_limits()), *argv]
    proc = subprocess.Popen(
        wrapped,
        cwd=scratch,
        env=scrubbed_env(scratch),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ToolFailed(f"{Path(argv[0]).name} did not finish in {TOOL_TIMEOUT_S:.0f} s") from None
    return proc.returncode, out.decode("utf-8", "replace")


def _ruff(module: Path, rubric: HealthRubric, scratch: Path) -> HealthSignal:
    ruff = Path(sys.executable).with_name("ruff")
    argv = [str(ruff), "check", "--config", str(RUFF_CONFIG), "--no-cache"]
    argv += ["--select", ",".join(rubric.rules), "--output-format", "json", str(module)]
    _, out = run_tool(argv, scratch)
    try:
        findings = json.loads(out)
    except ValueError:
        raise ToolFailed("ruff gave no JSON") from None
    details = [f"line {f['location']['row']}: {f['code']} {f['message']}" for f in findings][
        :MAX_DETAILS
    ]
    n = len(findings)
    return HealthSignal(
        "ruff",
        f"ruff findings ({', '.join(rubric.rules)})",
        n,
        rubric.max_ruff_findings,
        n <= rubric.max_ruff_findings,
        details,
    )


def _mypy(module: Path, rubric: HealthRubric, scratch: Path) -> HealthSignal:
    argv = [sys.executable, "-s", "-m", "mypy", "--ignore-missing-imports", "--no-incremental"]
    argv += ["--cache-dir", os.devnull, "--no-error-summary", "--show-error-codes", str(module)]
    code, out = run_tool(argv, scratch)
    if code not in (0, 1):
        raise ToolFailed(f"mypy exited with {code}")
    errors = [line for line in out.splitlines() if ": error:" in line]
    details = [line.split(":", 1)[1].strip() for line in errors][:MAX_DETAILS]
    return HealthSignal(
        "mypy",
        "mypy errors",
        len(errors),
        rubric.max_mypy_errors,
        len(errors) <= rubric.max_mypy_errors,
        details,
    )


def _metrics(module: Path, stub: Path, rubric: HealthRubric, scratch: Path) -> list[HealthSignal]:
    argv = [sys.executable, "-s", "-P", str(METRICS), str(module), str(stub)]
    code, out = run_tool(argv, scratch)
    try:
        data = json.loads(out)
        complexity, worst = int(data["complexity"]), str(data["worst"])
        sloc, undocumented = int(data["sloc"]), [str(n) for n in data["undocumented"]]
    except (ValueError, KeyError, TypeError):
        raise ToolFailed(f"the metrics script failed (exit {code}; does it parse?)") from None
    return [
        HealthSignal(
            "complexity",
            "cyclomatic complexity of the most complex function",
            complexity,
            rubric.max_complexity,
            complexity <= rubric.max_complexity,
            [worst] if worst else [],
        ),
        HealthSignal("lines", "lines of code", sloc, rubric.max_lines, sloc <= rubric.max_lines),
        HealthSignal(
            "docstrings",
            "public classes without a docstring",
            len(undocumented),
            0,
            not undocumented,
            undocumented[:MAX_DETAILS],
        ),
    ]


def measure_health(
    module: Path, stub: Path, name: str, rubric: HealthRubric, scratch: Path
) -> CodeHealthResult:
    """Measures ``module`` (shown as ``name``); a tool failure is reported, not charged."""
    module = module.resolve()
    try:
        signals = [
            _ruff(module, rubric, scratch),
            _mypy(module, rubric, scratch),
            *_metrics(module, stub.resolve(), rubric, scratch),
        ]
    except (ToolFailed, OSError) as exc:
        return CodeHealthResult(0.0, rubric.points, [], [name], ISOLATION, str(exc))
    share = rubric.points / len(signals)
    points = round(share * sum(s.ok for s in signals), 9) + 0.0
    return CodeHealthResult(points, rubric.points, signals, [name], ISOLATION)
