"""The testing dimension: the candidate's own tests, judged by the kit's known mutants.

The candidate's test files (``Staged.own_test_files``: anything beyond the shipped
public tests) run with pytest in a sandboxed child (``sandbox.child.Child``: the
same launcher, limits, wall-time kill and statuses as every check), first against
the reference solution — every test must pass there, else the dimension scores 0
and the report names the failing tests — then against each mutant of the assigned
parts. A mutant is *killed* when the run does not pass (a failing test, or a crash,
hang or resource limit the tests provoked: the tests noticed). Points are the
rubric's ``points`` times the fraction killed.

Not counted: a mutant whose declared checks all lie in the rubric's
``uncounted_dimensions`` (``performance`` for every exercise so far: a sweep on every
call or a table that never shrinks changes no answer a unit test can see). Such
mutants are not run; the report lists them as not counted. A check's dimension is
read from the literal arguments of its ``@check(...)`` decorator in the grader
modules (``check_dimensions``), so the rule does not depend on a grading run.

The module under test is written into a scratch copy of the submission, never into
the candidate's workspace, with its docstring and ``__mutant__`` literal removed so a
test cannot tell a mutant from the reference by reading labels.
"""

from __future__ import annotations

import ast
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dskata import redis_server
from dskata.catalog import Exercise, TestingRubric
from dskata.results import MutantRun, NotCounted, TestingResult
from dskata.sandbox.child import Child, ChildSpec
from dskata.sandbox.faults import CandidateFault
from dskata.sandbox.launcher import Limits, default_launcher
from dskata.staging import Staged, add_support_files
from dskata.verify import Target, targets_for

DRIVER = Path(__file__).with_name("pytest_driver.py")
_INI = "[pytest]\npythonpath = .\naddopts =\n"
MAX_NAMES = 20  # failing test names kept per run


@dataclass(frozen=True)
class RunResult:
    status: str  # "passed", "failed", "no_tests", or a CandidateFault status
    tests: dict[str, str]
    duration_s: float
    note: str = ""

    @property
    def failing(self) -> list[str]:
        return sorted(n for n, o in self.tests.items() if o in ("failed", "error"))[:MAX_NAMES]


def _body(source: str) -> list[ast.stmt]:
    """The module's statements without its docstring and ``__mutant__`` assignment."""
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [
        n
        for n in body
        if not (
            isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__mutant__" for t in n.targets)
        )
    ]


def module_under_test(source: str, reference: str | None = None) -> str:
    """Returns the module the candidate's tests import: ``source`` without labels.

    With ``reference``: a mutant of some parts only (a part-1 mutant holds no part-3
    class) is completed by the reference. The reference's statements come first and the
    mutant's after them, so every name the mutant defines is the mutant's, and the names
    only the reference has (the other parts' classes) are still importable: a test file
    that covers every part is judged on the part the mutant breaks, not failed at import.
    """
    body = _body(source)
    if reference is not None:
        body = _body(reference) + body
    futures: dict[str, ast.stmt] = {}  # ``from __future__`` must come first, once each
    for n in body:
        if isinstance(n, ast.ImportFrom) and n.module == "__future__":
            futures.setdefault(ast.dump(n), n)
    rest = [n for n in body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    body = [*futures.values(), *rest]
    return ast.unparse(ast.Module(body=body, type_ignores=[])) + "\n"


def run_tests(
    staged: Staged, source: str, scratch: Path, *, timeout_s: float, stop_first: bool
) -> RunResult:
    """Runs the candidate's own tests in a sandboxed child with ``source`` as the module."""
    exercise = staged.exercise
    copy = scratch / "submission"
    shutil.copytree(staged.root, copy)
    target = copy / exercise.module
    target.write_text(source, encoding="utf-8")
    add_support_files(exercise, copy)  # the kit's own copies, never the candidate's
    kit_redis = copy / "tests" / "redis_server.py"
    if kit_redis.exists():  # the kit's own copy, as for support modules
        shutil.copyfile(redis_server.__file__, kit_redis)
    # Inside the copy: the sandbox shows the child the submission and its own scratch only.
    ini = copy / ".dskata-pytest.ini"
    ini.write_text(_INI, encoding="utf-8")
    files = [str(copy / p.relative_to(staged.root)) for p in staged.own_test_files]
    args = [*files, "-c", str(ini), "--rootdir", str(copy), "-q", "-p", "no:cacheprovider"]
    # sys capture and a log file in /tmp: nothing here depends on the sandbox's /dev.
    args += ["--capture=sys", "-o", "log_file=/tmp/dskata-own-tests.log"]
    args += ["-x"] if stop_first else []
    spec = ChildSpec(
        module_path=target,
        module_name=exercise.module_name,
        submission_root=copy,
        driver_path=DRIVER,
        scratch=scratch / "child",
        limits=Limits(cpu_s=int(timeout_s) + 5),
    )
    started = time.monotonic()
    try:
        with Child(spec, default_launcher()) as child:
            reply = child.request("run", {"args": args}, timeout_s=timeout_s)
            excerpt = child.log_excerpt() or ""
    except CandidateFault as fault:
        return RunResult(fault.status, {}, time.monotonic() - started, fault.message)
    took = time.monotonic() - started
    if reply.raised is not None:
        why = f"{reply.raised.get('type')}: {reply.raised.get('message', '')}"
        return RunResult("crashed", {}, took, f"pytest raised {why}")
    return _judge(reply.result, took, excerpt)


def _judge(result: Any, took: float, excerpt: str) -> RunResult:
    """Reads the child's answer with exact types: anything else is tampering."""
    if type(result) is not dict or type(result.get("exit")) is not int:
        return RunResult("tampered", {}, took, "malformed answer from the test run")
    tests = result.get("tests")
    if type(tests) is not dict or not all(
        type(k) is str and type(v) is str for k, v in tests.items()
    ):
        return RunResult("tampered", {}, took, "malformed test outcomes")
    code = result["exit"]
    if code == 5 or (code == 0 and not tests):
        return RunResult("no_tests", tests, took, "pytest collected no tests")
    if code == 0 and not any(v in ("failed", "error") for v in tests.values()):
        return RunResult("passed", tests, took)
    return RunResult("failed", tests, took, excerpt[-1500:])


def _parts_of(target: Target, exercise: Exercise) -> tuple[int, ...]:
    return target.parts or exercise.part_numbers


def check_dimensions(exercise: Exercise) -> dict[str, str]:
    """Check id -> dimension, from the ``@check("ID", dimension="…")`` literals of the graders."""
    found: dict[str, str] = {}
    for path in sorted(exercise.grader_dir.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "check"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                continue
            for kw in node.keywords:
                if kw.arg == "dimension" and isinstance(kw.value, ast.Constant):
                    found[str(node.args[0].value)] = str(kw.value.value)
    return found


def counted(target: Target, dimensions: dict[str, str], uncounted: tuple[str, ...]) -> bool:
    """False when every check ``target`` declares is in an uncounted dimension.

    A declared check whose dimension is unknown keeps the mutant counted (never
    drop a mutant from the denominator on a guess)."""
    if not uncounted:
        return True
    return not all(dimensions.get(c) in uncounted for c in target.catches)


def grade_own_tests(
    staged: Staged,
    parts: tuple[int, ...],
    rubric: TestingRubric,
    scratch: Path,
    jobs: int | None = None,
) -> TestingResult:
    """Scores the candidate's own tests; see the module docstring for the rules."""
    started = time.monotonic()
    exercise = staged.exercise
    files = [p.relative_to(staged.root).as_posix() for p in staged.own_test_files]
    assigned = [
        t
        for t in targets_for(exercise)
        if t.kind == "mutant" and set(_parts_of(t, exercise)) <= set(parts)
    ]
    dimensions = check_dimensions(exercise)
    uncounted = rubric.uncounted_dimensions
    mutants = [t for t in assigned if counted(t, dimensions, uncounted)]
    not_counted = [
        NotCounted(t.name, t.mistake, sorted({dimensions.get(c, "?") for c in t.catches}))
        for t in assigned
        if not counted(t, dimensions, uncounted)
    ]

    def result(points: float, verdict: str, summary: str, **kw: Any) -> TestingResult:
        return TestingResult(
            points=round(points, 9) + 0.0,
            max_points=rubric.points,
            verdict=verdict,
            summary=summary,
            test_files=files,
            duration_s=round(time.monotonic() - started, 2),
            not_counted=not_counted,
            **kw,
        )

    if not files:
        return result(
            0.0,
            "no_tests",
            "No tests of the candidate's own were found (only the public tests): "
            "0 points on testing.",
        )
    reference = exercise.reference_module.read_text(encoding="utf-8")
    ref = run_tests(
        staged,
        module_under_test(reference),
        scratch / "reference",
        timeout_s=rubric.timeout_s,
        stop_first=False,
    )
    if ref.status != "passed":
        why = {
            "failed": "tests fail on a correct solution",
            "no_tests": "no test was collected from the candidate's test files",
        }.get(ref.status, f"the tests {ref.status.replace('_', ' ')} on a correct solution")
        names = f": {', '.join(ref.failing)}" if ref.failing else ""
        return result(
            0.0,
            "fails_on_reference" if ref.status != "no_tests" else "no_tests",
            f"{why[0].upper()}{why[1:]}{names}. 0 points on testing; the mutants were not run.",
            tests_on_reference=len(ref.tests),
            failing_on_reference=ref.failing,
        )
    workers = max(1, jobs or min(4, os.cpu_count() or 1))

    def one(index: int) -> MutantRun:
        target = mutants[index]
        source = target.path.read_text(encoding="utf-8")
        run = run_tests(
            staged,
            module_under_test(source, reference if target.parts else None),
            scratch / f"mutant-{index}",
            timeout_s=rubric.timeout_s,
            stop_first=True,
        )
        return MutantRun(
            name=target.name,
            mistake=target.mistake,
            parts=list(_parts_of(target, exercise)),
            killed=run.status != "passed",
            status=run.status,
            failing_tests=run.failing,
            duration_s=round(run.duration_s, 2),
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        runs = list(pool.map(one, range(len(mutants))))
    killed = sum(m.killed for m in runs)
    fraction = killed / len(runs) if runs else 0.0
    aside = (
        f" {len(not_counted)} more, caught only by {', '.join(uncounted)} checks, are not counted."
        if not_counted
        else ""
    )
    return result(
        rubric.points * fraction,
        "scored",
        f"The candidate's tests caught {killed} of {len(runs)} known mistakes "
        f"({round(100 * fraction)}%).{aside}",
        tests_on_reference=len(ref.tests),
        mutants=runs,
    )
