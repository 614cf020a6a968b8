"""``dskata verify``: proves each grader sound and prints the kill matrix.

For every exercise: the reference scores full marks, the untouched stub scores
zero with every check "not attempted", and every mutant in ``graders/<slug>/mutants``
fails each check its ``__mutant__`` literal declares. With ``repeat`` > 1 every
grading runs that many times and any check whose status varies is a failure
(a flaky grader is an untrustworthy one).

``declared_only`` grades each mutant on the checks it declares and nothing else.
At ``repeat`` 1 the verdicts are the same (a mutant is judged only on what it
declares); what is lost is the kill matrix's view of the other checks it fails,
and, with repeats, the flake test of those other checks. The kit's fast suite
uses it; the soak suite runs the full grading.
"""

from __future__ import annotations

import ast
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dskata.catalog import Exercise, all_exercises, get_exercise
from dskata.errors import KitError
from dskata.grading.runner import RunOutcome, run_checks
from dskata.seeds import load_profile
from dskata.staging import stage_kit_module


@dataclass(frozen=True)
class Target:
    name: str
    path: Path
    kind: str  # "reference" | "stub" | "mutant"
    catches: tuple[str, ...] = ()
    mistake: str = ""
    parts: tuple[int, ...] = ()  # graded on these parts only (empty: every part)


@dataclass
class Verdict:
    target: Target
    runs: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_mutant(path: Path) -> dict[str, Any]:
    """Returns a mutant's ``__mutant__`` literal; raises KitError when absent or malformed."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__mutant__" for t in node.targets
        ):
            data = ast.literal_eval(node.value)
            if isinstance(data, dict) and data.get("catches") and data.get("mistake"):
                return data
    raise KitError(f"{path} has no __mutant__ = {{'mistake': …, 'catches': [...]}} literal")


def targets_for(exercise: Exercise) -> list[Target]:
    found = [
        Target("reference", exercise.reference_module, "reference"),
        Target("stub", exercise.stub_module, "stub"),
    ]
    for path in sorted(exercise.mutants_dir.glob("*.py")):
        meta = read_mutant(path)
        parts = tuple(sorted(int(p) for p in meta.get("parts", ())))
        found.append(
            Target(path.stem, path, "mutant", tuple(meta["catches"]), str(meta["mistake"]), parts)
        )
    return found


def _grade(exercise: Exercise, target: Target, seed: int, declared_only: bool) -> RunOutcome:
    checks = list(target.catches) if declared_only and target.kind == "mutant" else None
    with tempfile.TemporaryDirectory(prefix="dskata-verify-") as tmp:
        # Staged like `dskata grade FILE --exercise` stages it: the support modules
        # (the kit's messaging.py) must sit beside the graded module.
        module = stage_kit_module(exercise, target.path, Path(tmp) / "stage")
        return run_checks(
            exercise,
            module_path=module,
            # A mutant's mistake lives in its declared parts; grading only those keeps
            # verify fast (a part-1 mistake needs no Redis) and the matrix focused.
            parts=target.parts or exercise.part_numbers,
            seed=seed,
            checks=checks,
            scratch=Path(tmp) / "grading",
            replay_base=f"dskata grade {target.path} --exercise {exercise.slug}",
        )


def judge(target: Target, outcome: RunOutcome) -> list[str]:
    """Returns what is wrong with one grading of ``target`` (empty when sound)."""
    if outcome.infra_error:
        return [f"infra error: {outcome.infra_error.splitlines()[0]}"]
    status = {c.id: c.status for c in outcome.checks}
    if target.kind == "reference":
        return [f"reference {cid}: {s}" for cid, s in status.items() if s != "passed"]
    if target.kind == "stub":
        return [f"stub {cid}: {s}" for cid, s in status.items() if s != "not_attempted"]
    problems = [f"declares unknown check {cid}" for cid in target.catches if cid not in status]
    problems += [f"not caught by {cid}" for cid in target.catches if status.get(cid) == "passed"]
    return problems


def verify_exercise(
    exercise: Exercise,
    repeat: int,
    jobs: int,
    seed: int,
    on_done: Callable[[Target, list[str]], None] | None = None,
    *,
    declared_only: bool = False,
) -> list[Verdict]:
    targets = targets_for(exercise)
    verdicts = {t.name: Verdict(t) for t in targets}
    work = [t for t in targets for _ in range(repeat)]

    def grade_one(target: Target) -> tuple[Target, RunOutcome]:
        outcome = _grade(exercise, target, seed, declared_only)
        if on_done is not None:
            on_done(target, judge(target, outcome))
        return target, outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(grade_one, work))
    for target, outcome in outcomes:
        verdict = verdicts[target.name]
        verdict.runs.append({c.id: c.status for c in outcome.checks})
        for problem in judge(target, outcome):
            if problem not in verdict.problems:
                verdict.problems.append(problem)
    for verdict in verdicts.values():
        for cid in sorted({cid for run in verdict.runs for cid in run}):
            seen = {run.get(cid, "missing") for run in verdict.runs}
            if len(seen) > 1:
                verdict.problems.append(f"{cid} varied across runs: {sorted(seen)}")
    return list(verdicts.values())


def _failed(run: dict[str, str]) -> list[str]:
    return [cid if s == "failed" else f"{cid} ({s})" for cid, s in run.items() if s != "passed"]


def kill_matrix(exercise: Exercise, verdicts: list[Verdict]) -> Table:
    """A row per graded target: what it should fail, what it did fail, the verdict.

    Rows rather than a check-per-column grid, so the table stays readable at 80 columns
    however many checks an exercise has.
    """
    table = Table(title=f"kill matrix: {exercise.slug} {exercise.version}", show_lines=True)
    table.add_column("target", no_wrap=True)
    table.add_column("must fail")
    table.add_column("failed (first run)")
    table.add_column("verdict")
    for verdict in verdicts:
        target = verdict.target
        run = verdict.runs[0] if verdict.runs else {}
        if target.kind == "reference":
            must = "nothing"
        elif target.kind == "stub":
            must = "all (not attempted)"
        else:
            must = ", ".join(target.catches)
        failed = _failed(run)
        if target.kind == "stub" and failed and all("not_attempted" in f for f in failed):
            shown = f"all {len(failed)} not attempted"
        else:
            shown = ", ".join(failed) or "nothing"
        result = "[green]ok[/]" if verdict.ok else "[red]" + "; ".join(verdict.problems) + "[/]"
        table.add_row(target.name, must, shown, result)
    return table


class _Ticker:
    """Prints one line per finished grading, so a long verify shows it is moving."""

    def __init__(self, console: Console, slug: str, total: int) -> None:
        self.console, self.slug, self.total = console, slug, total
        self.done = 0
        self.lock = threading.Lock()  # gradings finish on several pool threads

    def __call__(self, target: Target, problems: list[str]) -> None:
        with self.lock:
            self.done += 1
            verdict = "[green]ok[/]" if not problems else f"[red]{'; '.join(problems)}[/]"
            self.console.print(f"  [{self.done}/{self.total}] {self.slug}/{target.name}: {verdict}")


def run_verify(
    slugs: list[str], *, repeat: int, jobs: int, console: Console, declared_only: bool = False
) -> bool:
    """Verifies the named exercises (all when empty); prints kill matrices; True when sound."""
    exercises = [get_exercise(s) for s in slugs] if slugs else all_exercises()
    seed = load_profile("default").seed
    sound = True
    for exercise in exercises:
        ticker = _Ticker(console, exercise.slug, len(targets_for(exercise)) * repeat)
        verdicts = verify_exercise(
            exercise, repeat, jobs, seed, on_done=ticker, declared_only=declared_only
        )
        console.print(kill_matrix(exercise, verdicts))
        for verdict in verdicts:
            if not verdict.ok:
                sound = False
                console.print(
                    f"[red]✘ {exercise.slug}/{verdict.target.name}:[/] "
                    + "; ".join(verdict.problems)
                )
        mutants = [v for v in verdicts if v.target.kind == "mutant"]
        caught = sum(v.ok for v in mutants)
        console.print(
            f"{exercise.slug}: reference {'ok' if verdicts[0].ok else 'FAILED'}, "
            f"stub {'ok' if verdicts[1].ok else 'FAILED'}, "
            f"{caught}/{len(mutants)} mutants caught, {repeat} run(s) each"
        )
    return sound
