"""Wall time of `dskata grade` on each reference solution: per part and all parts.

Each grading is the command an interviewer runs, in a fresh process:
``dskata grade reference_solutions/<slug>/<module> --exercise <slug> --parts <p>
--quiet --out <tmp>``. The runs are interleaved (run 1 of every exercise and part,
then run 2, …) so machine noise spreads over all of them. Each report is read back:
a reference that does not score full marks is flagged, since its time would then not
be the time of a full grading.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import REFERENCES

EXERCISES = ("rate_limiter", "idempotency", "worker_pool", "dedup_consumer")
TARGET_EXERCISE_S = 20.0  # issue 10: each exercise's reference, all parts, median wall
TARGET_ALL_S = 60.0  # issue 10: all four together


def dskata_command() -> list[str]:
    script = Path(sys.executable).parent / "dskata"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dskata"]


@dataclass
class Case:
    slug: str
    module: str
    parts: str  # "1" or "1,2,3"
    label: str  # "part 1" or "all parts"
    check: str | None = None
    seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def cases(wanted: list[str], parts_only: list[int] | None, check: str | None) -> list[Case]:
    from dskata.catalog import all_exercises

    known = {e.slug: e for e in all_exercises()}
    out = []
    for slug in wanted:
        exercise = known.get(slug)
        if exercise is None:
            print(f"  {slug}: not in `dskata list` on this branch — skipped")
            continue
        if not (REFERENCES / slug / exercise.module).is_file():
            print(f"  {slug}: no reference_solutions/{slug}/{exercise.module} — skipped")
            continue
        numbers = [p.number for p in exercise.parts]
        chosen = [n for n in numbers if parts_only is None or n in parts_only]
        for n in chosen:
            out.append(Case(slug, exercise.module, str(n), f"part {n}", check))
        if parts_only is None and len(numbers) > 1:
            out.append(Case(slug, exercise.module, ",".join(map(str, numbers)), "all parts"))
    return out


def grade_once(case: Case, scratch: Path) -> None:
    out = Path(tempfile.mkdtemp(dir=scratch))
    argv = [
        *dskata_command(),
        "grade",
        str(REFERENCES / case.slug / case.module),
        "--exercise",
        case.slug,
        "--parts",
        case.parts,
        "--quiet",
        "--out",
        str(out / "report"),
    ]
    if case.check:
        argv += ["--check", case.check]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    case.seconds.append(time.perf_counter() - start)
    if done.returncode != 0:
        case.problems.append(f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
    else:
        report = json.loads((out / "report" / "report.json").read_text())
        if report["score"] != report["max_score"]:
            case.problems.append(f"scored {report['score']} of {report['max_score']}")
    shutil.rmtree(out, ignore_errors=True)


def run(wanted: list[str], runs: int, parts_only: list[int] | None, check: str | None) -> None:
    print("\n## grading time of the reference solutions (wall, one `dskata grade` process each)")
    print(f"method: {runs} run(s) of each, interleaved; median [min – max] seconds")
    todo = cases(wanted, parts_only, check)
    with tempfile.TemporaryDirectory(prefix="dskata-bench-") as tmp:
        for number in range(1, runs + 1):
            for case in todo:
                grade_once(case, Path(tmp))
                print(
                    f"    run {number}/{runs}: {case.slug} {case.label} "
                    f"{case.seconds[-1]:.1f} s",
                    flush=True,
                )
    print(f"  {'exercise':<16} {'parts':<10} {'median s':>9} {'min':>7} {'max':>7}  verdict")
    all_parts: dict[str, float] = {}
    for case in todo:
        median = statistics.median(case.seconds)
        verdict = "; ".join(sorted(set(case.problems))) or "full marks every run"
        if case.label == "all parts" or (case.parts == "1" and case.slug not in all_parts):
            all_parts[case.slug] = median  # one-part exercises: part 1 is all parts
        print(
            f"  {case.slug:<16} {case.label:<10} {median:>9.1f} {min(case.seconds):>7.1f} "
            f"{max(case.seconds):>7.1f}  {verdict}"
        )
    if parts_only is None and check is None and all_parts:
        total = sum(all_parts.values())
        slow = [s for s, t in all_parts.items() if t >= TARGET_EXERCISE_S]
        print(
            f"  all parts of {len(all_parts)} exercise(s), medians added: {total:.1f} s "
            f"(target < {TARGET_ALL_S:g} s for all four)"
        )
        print(
            f"  target < {TARGET_EXERCISE_S:g} s per exercise, all parts: "
            + (f"missed by {', '.join(slow)}" if slow else "met by every exercise measured")
        )
