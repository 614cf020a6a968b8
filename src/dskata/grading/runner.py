"""Runs one exercise's graders against one staged submission, in a pytest subprocess.

The grading session is a separate (trusted) process so that every grading
starts clean — no module state, Hypothesis registry or thread leaks from the
previous one — and so several gradings can run side by side. A session that
dies without writing its results is an infra error: the kit's fault.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dskata.catalog import Exercise
from dskata.drivers import driver_path
from dskata.errors import UnknownCheck
from dskata.grading.config import SessionConfig
from dskata.results import CheckResult, check_from_dict

# A backstop only: every check keeps its own deadline, so a session ends long before.
SESSION_TIMEOUT_S = 3600.0

_INI = """[pytest]
python_files = test_*.py
python_functions = test_*
addopts = -p no:cacheprovider -p no:randomly
"""


@dataclass
class RunOutcome:
    checks: list[CheckResult]
    isolation: str
    infra_error: str | None
    redis: dict[str, str] | None = None  # how Redis was obtained, for the report


def _pytest_argv(exercise: Exercise, config_path: Path, ini: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        str(exercise.grader_dir),
        "-c",
        str(ini),
        "--rootdir",
        str(exercise.grader_dir),
        "--confcutdir",
        str(exercise.grader_dir),
        "-p",
        "dskata.grading.plugin",
        "--dskata-config",
        str(config_path),
        "-q",
        "--no-header",
        "--assert=plain",  # evidence carries the grader's own words, not pytest's rewrite
        "-p",
        "no:cacheprovider",
        "--ignore",
        str(exercise.mutants_dir),
    ]


def run_checks(
    exercise: Exercise,
    *,
    module_path: Path,
    parts: tuple[int, ...],
    seed: int,
    checks: list[str] | None,
    scratch: Path,
    replay_base: str,
    timeout_s: float = SESSION_TIMEOUT_S,
    progress: Callable[[dict[str, object]], None] | None = None,
) -> RunOutcome:
    """Runs the graders of ``parts`` (or only ``checks``) and returns their results."""
    scratch.mkdir(parents=True, exist_ok=True)
    results_path = scratch / "results.json"
    config = SessionConfig(
        exercise=exercise.slug,
        parts=list(parts),
        module_path=str(module_path),
        module_name=exercise.module_name,
        submission_root=str(module_path.parent),
        reference_path=str(exercise.reference_module),
        driver_path=str(driver_path(exercise.slug)),
        scratch=str(scratch / "checks"),
        seed=seed,
        checks=checks,
        results_path=str(results_path),
        progress_path=str(scratch / "progress.jsonl"),
        replay_base=replay_base,
    )
    config_path = scratch / "session.json"
    config.write(config_path)
    ini = scratch / "pytest.ini"
    ini.write_text(_INI, encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    log_path = scratch / "grader.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            _pytest_argv(exercise, config_path, ini),
            cwd=scratch,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        code = _wait(proc, Path(config.progress_path), timeout_s, progress)
    return _collect(results_path, log_path, code)


def _wait(
    proc: subprocess.Popen[bytes],
    progress_path: Path,
    timeout_s: float,
    progress: Callable[[dict[str, object]], None] | None,
) -> int | None:
    """Waits for the session, forwarding its progress lines; None when it overran."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while True:
        code = proc.poll()
        if progress is not None and progress_path.exists():
            lines = progress_path.read_text(encoding="utf-8").splitlines()
            for line in lines[seen:]:
                progress(json.loads(line))
            seen = len(lines)
        if code is not None:
            return code
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return None
        time.sleep(0.1)


def _collect(results_path: Path, log_path: Path, code: int | None) -> RunOutcome:
    log_tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
    if not results_path.exists():
        why = "timed out" if code is None else f"exited with {code}"
        return RunOutcome([], "unknown", f"the grading session {why} without results:\n{log_tail}")
    data = json.loads(results_path.read_text(encoding="utf-8"))
    if "usage_error" in data:
        raise UnknownCheck(str(data["usage_error"]))
    checks = [check_from_dict(c) for c in data["checks"]]
    infra = None
    redis = data.get("redis")
    broken = [c.id for c in checks if c.status == "infra_error"]
    if broken and redis and redis.get("error"):
        infra = f"infra error: {redis['error']} (checks that need Redis: {', '.join(broken)})"
    elif broken:
        infra = f"the grader failed in {', '.join(broken)}"
    elif code not in (0, 1):  # 1 = some checks failed, which is normal
        infra = f"the grading session exited with {code}:\n{log_tail}"
    return RunOutcome(checks, str(data.get("isolation", "unknown")), infra, redis)
