"""The command line end to end: real processes, real exit codes, real reports.

Usage mistakes exit 2 with one line on stderr; a submission that is broken in any
way still gets a report (exit 0) within a bounded time; the kit's own failures
exit 3. Grading here is narrowed with ``--check`` to keep the suite fast; the full
gradings live in test_solutions.py and test_verify.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from dskata.report.json_report import load_report

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "reference_solutions" / "rate_limiter" / "rate_limiter.py"
NO_LOCK = ROOT / "graders" / "rate_limiter" / "mutants" / "no_lock.py"


def dskata(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dskata", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def report_of(out: Path) -> dict[str, object]:
    for name in ("report.json", "report.md", "report.html"):
        assert (out / name).is_file(), f"{name} missing"
    load_report(out / "report.json")  # validates against the schema
    data: dict[str, object] = json.loads((out / "report.json").read_text())
    return data


def _survivors(module: Path) -> str:
    """Processes still running the submission (the shim's argv names its path)."""
    found = subprocess.run(["pgrep", "-af", str(module)], capture_output=True, text=True)
    return found.stdout


def statuses(report: dict[str, object]) -> dict[str, str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return {c["id"]: c["status"] for c in checks}


def test_list_names_the_exercise_and_its_parts() -> None:
    done = dskata("list")
    assert done.returncode == 0
    assert "rate_limiter" in done.stdout and "Thread safety" in done.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("start", "no_such_exercise", "{tmp}/ws"), "no_such_exercise"),
        (("start", "rate_limiter", "{tmp}/ws", "--parts", "1,9"), "9"),
        (("start", "rate_limiter", "{tmp}/ws", "--parts", "one"), "one"),
        (("grade", "{tmp}/missing"), "missing"),
        (("grade", str(REFERENCE)), "--exercise"),
        (("grade", str(REFERENCE), "--exercise", "nope"), "nope"),
        (("grade", str(REFERENCE), "--exercise", "rate_limiter", "--parts", "0"), "0"),
        (("grade", str(REFERENCE), "--exercise", "rate_limiter", "--seeds", "nope"), "nope"),
        (("grade", str(REFERENCE), "--exercise", "rate_limiter", "--check", "RL-NOPE"), "RL-NOPE"),
        (("grade", "{tmp}/notes.txt", "--exercise", "rate_limiter"), "notes.txt"),
        (("verify", "nope"), "nope"),
    ],
)
def test_usage_mistakes_exit_2_with_a_clear_error(
    tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a submission")
    done = dskata(*(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:")
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_start_then_grade_a_workspace_archive(tmp_path: Path) -> None:
    workspace = tmp_path / "alice"
    assert dskata("start", "rate_limiter", workspace, "--parts", "1").returncode == 0
    (workspace / "rate_limiter.py").write_text(REFERENCE.read_text())
    archive = tmp_path / "alice.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(workspace, arcname="alice")
    done = dskata("grade", archive, "--check", "RL-FRESH-BURST", "--check", "RL-COST")
    assert done.returncode == 0, done.stderr
    report = report_of(tmp_path / "alice-report")
    assert report["parts"] == [1]  # the workspace's own manifest decides
    assert statuses(report) == {"RL-FRESH-BURST": "passed", "RL-COST": "passed"}


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("import this_module_does_not_exist\n", "this_module_does_not_exist"),
        ("def try_acquire(self, key:\n", "SyntaxError"),
        ("import os\nos._exit(0)\n", "exited with status 0"),
        ("import sys\nsys.exit('bye')\n", "bye"),
    ],
    ids=["missing-import", "syntax-error", "os-exit", "sys-exit"],
)
def test_a_module_that_does_not_import_is_graded_crashed(
    tmp_path: Path, source: str, words: str
) -> None:
    module = tmp_path / "rate_limiter.py"
    module.write_text(source)
    started = time.monotonic()
    done = dskata("grade", module, "--exercise", "rate_limiter", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    report = report_of(tmp_path / "r")
    assert set(statuses(report).values()) == {"crashed"}
    assert report["score"] == 0
    assert words in (tmp_path / "r" / "report.md").read_text()
    assert time.monotonic() - started < 60
    assert _survivors(module) == ""


def test_a_hanging_submission_times_out_and_leaves_no_process(tmp_path: Path) -> None:
    module = tmp_path / "rate_limiter.py"
    module.write_text(
        REFERENCE.read_text()
        + "\n\n_real = TokenBucketLimiter.try_acquire\n"
        + "def _hang(self, key, cost=1):\n    while True:\n        pass\n"
        + "TokenBucketLimiter.try_acquire = _hang\n"
    )
    started = time.monotonic()
    done = dskata(
        "grade",
        module,
        "--exercise",
        "rate_limiter",
        "--out",
        tmp_path / "r",
        "--check",
        "RL-FRESH-BURST",
        "--check",
        "RL-THREADS-FRESH-KEY",
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert set(statuses(report_of(tmp_path / "r")).values()) == {"timed_out"}
    assert elapsed < 60
    assert _survivors(module) == ""


def test_a_mutant_fails_with_a_story_and_a_replay_command(tmp_path: Path) -> None:
    done = dskata(
        "grade",
        NO_LOCK,
        "--exercise",
        "rate_limiter",
        "--out",
        tmp_path / "r",
        "--check",
        "RL-THREADS-FRESH-KEY",
    )
    assert done.returncode == 0, done.stderr
    report = report_of(tmp_path / "r")
    (check,) = report["checks"]  # type: ignore[misc]
    assert check["status"] == "failed"
    assert "threads each called try_acquire" in json.dumps(check["evidence"])
    replay = check["replay"]
    assert "--check RL-THREADS-FRESH-KEY" in replay and "--seeds default" in replay
    assert "RL-THREADS-FRESH-KEY" in done.stdout  # the terminal summary names it


def test_seeds_new_writes_a_profile_grade_accepts(tmp_path: Path) -> None:
    done = dskata("seeds", "new", "cycle-2026q4", "--dir", tmp_path)
    assert done.returncode == 0, done.stderr
    profile = tmp_path / "cycle-2026q4.toml"
    assert profile.is_file()
    graded = dskata(
        "grade",
        REFERENCE,
        "--exercise",
        "rate_limiter",
        "--seeds",
        profile,
        "--check",
        "RL-MODEL",
        "--out",
        tmp_path / "r",
    )
    assert graded.returncode == 0, graded.stderr
    report = report_of(tmp_path / "r")
    assert report["seed_profile"] == "cycle-2026q4"
    assert statuses(report) == {"RL-MODEL": "passed"}
