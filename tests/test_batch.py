"""``dskata grade --batch``: every submission of a folder graded, resumed, compared.

The fast test grades four small submissions (narrowed with --check) plus a broken
archive; the slow one grades twelve full submissions of rate_limiter parts 1–2,
including a hanging, a crashing and a non-importing one, then re-runs and skips all.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from dskata.batch import Entry, Outcome, find_submissions
from dskata.cli_batch import BatchProgress
from dskata.report.json_report import load_report

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "reference_solutions" / "rate_limiter" / "rate_limiter.py"
MUTANTS = ROOT / "graders" / "rate_limiter" / "mutants"
HANG_AT_IMPORT = "while True:\n    pass\n"
NO_IMPORT = "import this_module_does_not_exist\n"
CRASH_IN_CALL = (
    REFERENCE.read_text()
    + "\n\nimport os as _os\n"
    + "def _die(self, key, cost=1):\n    _os._exit(7)\n"
    + "TokenBucketLimiter.try_acquire = _die\n"
)


def dskata(*args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dskata", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def workspace(folder: Path, name: str, module_source: str) -> Path:
    ws = folder / name
    done = dskata("start", "rate_limiter", ws, "--parts", "1,2")
    assert done.returncode == 0, done.stderr
    (ws / "rate_limiter.py").write_text(module_source)
    return ws


def zipped(ws: Path) -> None:
    with zipfile.ZipFile(ws.with_suffix(".zip"), "w") as zf:
        for file in ws.rglob("*"):
            zf.write(file, Path(ws.name) / file.relative_to(ws))
    shutil.rmtree(ws)


def tarred(ws: Path) -> None:
    with tarfile.open(ws.parent / f"{ws.name}.tar.gz", "w:gz") as tar:
        tar.add(ws, arcname=ws.name)
    shutil.rmtree(ws)


def scores(out: Path) -> dict[str, float]:
    data = json.loads((out / "batch.json").read_text())
    return {s["label"]: s["score"] for s in data["submissions"]}


def test_labels_are_stable_and_unique(tmp_path: Path) -> None:
    for name in ("alice", "alice.zip", "bob.tar.gz", "carol.py", "notes.txt", ".hidden"):
        (tmp_path / name).mkdir() if name == "alice" else (tmp_path / name).write_text("x")
    entries, ignored = find_submissions(tmp_path, tmp_path / "out")
    assert [(e.label, e.path.name) for e in entries] == [
        ("alice", "alice"),
        ("alice-2", "alice.zip"),
        ("bob", "bob.tar.gz"),
        ("carol", "carol.py"),
    ]
    assert ignored == ["notes.txt"]


def test_progress_draws_a_bar_on_a_terminal() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100, color_system=None)
    entry = Entry("alice", Path("alice"))
    with BatchProgress(console, quiet=False) as progress:
        progress("total", Entry("", Path(".")), 1)
        progress("start", entry, None)
        progress("check", entry, {"total": 2})
        progress("check", entry, {"done": "RL-X", "status": "passed"})
        progress("done", entry, Outcome(entry, "graded", ""))
    text = buf.getvalue()
    assert "batch" in text and "alice" in text and "1/1" in text
    assert "━" in text  # rich's bar


def test_a_small_batch_grades_resumes_and_compares(tmp_path: Path) -> None:
    folder = tmp_path / "cycle"
    folder.mkdir()
    shutil.copy(REFERENCE, folder / "ref.py")
    shutil.copy(MUTANTS / "no_lock.py", folder / "no_lock.py")
    (folder / "hang.py").write_text(HANG_AT_IMPORT)
    (folder / "noimport.py").write_text(NO_IMPORT)
    (folder / "broken.zip").write_bytes(b"not a zip at all")
    (folder / "notes.txt").write_text("interview notes")
    out = tmp_path / "out"
    args = ("grade", "--batch", folder, "--exercise", "rate_limiter", "--out", out)
    narrow = ("--check", "RL-FRESH-BURST", "--check", "RL-THREADS-FRESH-KEY", "--jobs", "2")
    started = time.monotonic()
    done = dskata(*args, *narrow)
    first = time.monotonic() - started
    assert done.returncode == 2, done.stderr  # the broken archive: not graded, said so
    assert scores(out) == {"broken": None, "hang": 0, "no_lock": 33.33, "noimport": 0, "ref": 100}
    for label in ("ref", "no_lock", "hang", "noimport"):
        assert (out / label / "report.html").is_file()
        load_report(out / label / "report.json")
    statuses = {c.id: c.status for c in load_report(out / "hang" / "report.json").checks}
    assert set(statuses.values()) == {"timed_out"}
    # Not a terminal: one plain line per submission on stderr.
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 5 and any("broken: not graded: broken.zip" in line for line in lines)
    assert "broken or truncated zip" in done.stdout and "notes.txt" in done.stdout
    compare_md = (out / "compare.md").read_text()
    assert "broken.zip" in compare_md  # the committee sees who has no report
    assert compare_md.index("| ref |") < compare_md.index("| no_lock |")
    assert (out / "compare.html").is_file() and (out / "compare.csv").is_file()

    started = time.monotonic()
    again = dskata(*args, *narrow)
    assert again.returncode == 2
    assert "0 graded, 4 up to date" in again.stdout
    assert time.monotonic() - started < first / 2
    # A changed submission is graded again; the others are not.
    shutil.copy(REFERENCE, folder / "no_lock.py")
    third = dskata(*args, *narrow)
    assert "1 graded, 3 up to date" in third.stdout
    assert scores(out)["no_lock"] == 100


@pytest.mark.slow
def test_a_batch_of_twelve_grades_in_one_command_and_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "cycle-2026q4"
    folder.mkdir()
    workspace(folder, "alice", REFERENCE.read_text())
    zipped(workspace(folder, "bob", (MUTANTS / "racy_lock_table.py").read_text()))
    tarred(workspace(folder, "carol", (MUTANTS / "sweep_outside_lock.py").read_text()))
    for mutant in (
        "no_lock",
        "integer_refill",
        "forgets_too_early",
        "no_refill_cap",
        "strict_comparison",
        "shared_bucket",
    ):
        shutil.copy(MUTANTS / f"{mutant}.py", folder / f"{mutant}.py")
    (folder / "hang.py").write_text(HANG_AT_IMPORT)
    (folder / "crash.py").write_text(CRASH_IN_CALL)
    (folder / "noimport.py").write_text(NO_IMPORT)
    out = tmp_path / "reports"
    args = ("grade", "--batch", folder, "--exercise", "rate_limiter", "--parts", "1,2")
    done = dskata(*args, "--out", out, "--jobs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    got = scores(out)
    assert len(got) == 12 and all(s is not None for s in got.values())
    # Alice's workspace holds the reference and only the public tests: every hidden check
    # passes, and her own tests (there are none) earn nothing on the testing dimension.
    alice = load_report(out / "alice" / "report.json")
    assert {c.status for c in alice.checks} == {"passed"}
    assert got["alice"] == max(got.values())
    assert got["hang"] == got["noimport"] == 0
    assert all(got[m] < 100 for m in got if m != "alice")
    crash = {c.status for c in load_report(out / "crash" / "report.json").checks}
    assert "crashed" in crash
    compare_csv = (out / "compare.csv").read_text().splitlines()
    assert len(compare_csv) == 13 and compare_csv[1].split(",")[1] == "alice"
    assert "12 graded, 0 up to date" in done.stdout

    again = dskata(*args, "--out", out)
    assert again.returncode == 0
    assert "0 graded, 12 up to date" in again.stdout
