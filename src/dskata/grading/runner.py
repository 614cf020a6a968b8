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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dskata.catalog import Exercise
from dskata.drivers import driver_path
from dskata.errors import UnknownCheck
from dskata.grading.config import SessionConfig
from dskata.results import CheckResult, check_from_dict
from dskata.sandbox.launcher import LEVELS
from dskata.staging import stage_kit_module

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
    order: list[str] = field(default_factory=list)  # every selected check id, graders' order
    isolation_detail: str = ""
    isolation_degraded: bool = False


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
    shards: int = 1,
) -> RunOutcome:
    """Runs the graders of ``parts`` (or only ``checks``) and returns their results.

    ``shards`` > 1 runs that many sessions side by side, taking checks from one queue:
    most checks wait (timeouts, virtual clocks, Redis), so two sessions on two cores
    take about half the wall time. Every check still gets its own fresh child and seed,
    so a check's result does not depend on which session ran it.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    ini = scratch / "pytest.ini"
    ini.write_text(_INI, encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    reference = exercise.reference_module
    if exercise.support and reference.is_file():
        # The ``reference`` fixture's child imports the support modules too.
        reference = stage_kit_module(exercise, reference, scratch / "reference")
    sessions: list[_Session] = []
    claims = scratch / "claims"
    claims.mkdir(exist_ok=True)
    for index in range(max(1, shards)):
        where = scratch if shards <= 1 else scratch / f"shard-{index}"
        where.mkdir(parents=True, exist_ok=True)
        config = SessionConfig(
            exercise=exercise.slug,
            parts=list(parts),
            module_path=str(module_path),
            module_name=exercise.module_name,
            submission_root=str(module_path.parent),
            reference_path=str(reference),
            driver_path=str(driver_path(exercise.slug)),
            scratch=str(where / "checks"),
            seed=seed,
            checks=checks,
            results_path=str(where / "results.json"),
            progress_path=str(where / "progress.jsonl"),
            replay_base=replay_base,
            shard_index=index,
            shard_count=max(1, shards),
            claims_dir=str(claims),
        )
        config.write(where / "session.json")
        log = open(where / "grader.log", "wb")  # noqa: SIM115 - closed once the session ends
        proc = subprocess.Popen(
            _pytest_argv(exercise, where / "session.json", ini),
            cwd=where,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        sessions.append(_Session(proc, log, where))
    try:
        _wait(sessions, timeout_s, progress)
    finally:
        for session in sessions:
            session.log.close()
    return _merge(
        [_collect(s.where / "results.json", s.where / "grader.log", s.code) for s in sessions]
    )


@dataclass
class _Session:
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    where: Path
    code: int | None = None
    seen: int = 0  # progress lines already forwarded
    total: int = 0


def _wait(
    sessions: list[_Session],
    timeout_s: float,
    progress: Callable[[dict[str, object]], None] | None,
) -> None:
    """Waits for every session, forwarding their progress; kills those that overran."""
    deadline = time.monotonic() + timeout_s
    running = list(sessions)
    while True:
        for session in list(running):
            code = session.proc.poll()
            _forward(session, sessions, progress)
            if code is not None:
                session.code = code
                running.remove(session)
        if not running:
            return
        if time.monotonic() > deadline:
            for session in running:
                session.proc.kill()
                session.proc.wait()
            return
        time.sleep(0.1)


def _forward(
    session: _Session,
    sessions: list[_Session],
    progress: Callable[[dict[str, object]], None] | None,
) -> None:
    """Passes a session's new progress lines on (every session counts all checks)."""
    path = session.where / "progress.jsonl"
    if progress is None or not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[session.seen :]:
        event = json.loads(line)
        if "total" in event:
            session.total = int(event["total"])
            event = {"total": max(s.total for s in sessions)}
        progress(event)
    session.seen = len(lines)


def _merge(outcomes: list[RunOutcome]) -> RunOutcome:
    """One outcome from the shards': checks in the graders' order, problems joined."""
    if len(outcomes) == 1:
        return outcomes[0]
    order = next((o.order for o in outcomes if o.order), [])
    rank = {cid: i for i, cid in enumerate(order)}
    checks = sorted(
        (c for o in outcomes for c in o.checks), key=lambda c: rank.get(c.id, len(rank))
    )
    errors = [o.infra_error for o in outcomes if o.infra_error]
    # Every session probes the same machine, but should one have fallen lower, the
    # report names the weakest level any check ran at (the ladder's order: LEVELS).
    known = max(
        (o for o in outcomes if o.isolation != "unknown"),
        key=lambda o: LEVELS.index(o.isolation) if o.isolation in LEVELS else len(LEVELS),
        default=outcomes[0],
    )
    redis = next((o.redis for o in outcomes if o.redis and o.redis.get("error")), None)
    redis = redis or next((o.redis for o in outcomes if o.redis), None)
    return RunOutcome(
        checks,
        known.isolation,
        "\n".join(errors) or None,
        redis,
        order,
        known.isolation_detail,
        any(o.isolation_degraded for o in outcomes),
    )


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
    order = [str(cid) for cid in data.get("order", [])]
    return RunOutcome(
        checks,
        str(data.get("isolation", "unknown")),
        infra,
        redis,
        order,
        str(data.get("isolation_detail", "")),
        data.get("isolation_degraded") is True,
    )
