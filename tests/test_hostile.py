"""The adversarial corpus (``tests/hostile/``): hostile submissions cost only their own score.

Every entry is graded in one ``dskata grade --batch`` beside two correct solutions
and a mutant (batch safety), narrowed to one check (``RL-FRESH-BURST``, a few calls).
For each entry the test asserts its expected status, that its report was written
within budget, and — at the strongest isolation level — that nothing outside the
scratch folder changed, no connection reached the test's loopback listeners and no
process of any sandbox survived. The same corpus runs at the plain-subprocess level
(``DSKATA_ISOLATION=subprocess``) with the degraded expectations each entry declares.

Costs (2 cores, shared): the fast corpus (no hangs) ~60 s; the slow corpus (hangs,
a fork bomb: each costs its check's time limit) ~40 s; the degraded run of the whole
corpus ~90 s; the measurements below ~90 s.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dskata.report.json_report import load_report
from dskata.sandbox import uids
from dskata.sandbox.launcher import SandboxUnavailable, default_launcher

ROOT = Path(__file__).parents[1]
CORPUS = Path(__file__).with_name("hostile")
REFERENCE = ROOT / "reference_solutions" / "rate_limiter" / "rate_limiter.py"
ALT = ROOT / "tests" / "solutions" / "rate_limiter" / "gcra_ns.py"
MUTANT = ROOT / "graders" / "rate_limiter" / "mutants" / "strict_comparison.py"
CHECK = "RL-FRESH-BURST"
LEVEL = os.environ.get("DSKATA_ISOLATION", "auto")  # the strongest here, unless forced
BASES = {"reference": REFERENCE, "always_allow": CORPUS / "_always_allow.py"}
REPORT_BUDGET_S = 45.0  # per submission: a 15 s import limit, or a 10 s call, plus start-up
PLANTED = [Path("/tmp/dskata-hostile-planted.txt"), ROOT / "graders/rate_limiter/planted.txt"]


@dataclass(frozen=True)
class Entry:
    name: str
    meta: dict[str, Any]
    source: str

    @property
    def slow(self) -> bool:
        return bool(self.meta.get("slow", False))

    def expect(self, isolation: str) -> str:
        """The expected status at an isolation level ("skip": not graded there)."""
        key = _KEYS.get(isolation, "expect")
        return str(self.meta.get(key, self.meta["expect"]))

    def leaks(self, isolation: str) -> set[str]:
        return set(self.meta.get("leaks", {}).get(_KEYS.get(isolation, ""), ()))


_KEYS = {"bubblewrap": "expect", "namespaces": "namespaces", "subprocess": "degraded"}


def _entries() -> list[Entry]:
    found = []
    for path in sorted(CORPUS.glob("[a-z]*.py")):
        source = path.read_text()
        meta = next(
            ast.literal_eval(node.value)
            for node in ast.parse(source).body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__hostile__" for t in node.targets)
        )
        found.append(Entry(path.stem, meta, source))
    return found


ENTRIES = _entries()
# Entries with checks of their own (part 3, against the kit's Redis) are graded alone.
OWN = [e for e in ENTRIES if "checks" in e.meta]
FAST = [e for e in ENTRIES if not e.slow and e not in OWN]
SLOW = [e for e in ENTRIES if e.slow and e not in OWN]
BATCHED = FAST + SLOW


# -- what a hostile submission may have changed ---------------------------------


class Listener:
    """A loopback TCP and a unix-socket listener that count who connected."""

    def __init__(self, folder: Path) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.unix_path = folder / "listen.sock"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(str(self.unix_path))
        self.unix.listen()
        self.unix_path.chmod(0o777)  # a sandbox uid must not be stopped by the mode alone
        self.connections = 0
        self._threads = [
            threading.Thread(target=self._accept, args=(s,), daemon=True)
            for s in (self.tcp, self.unix)
        ]
        for t in self._threads:
            t.start()

    @property
    def port(self) -> int:
        return int(self.tcp.getsockname()[1])

    def _accept(self, server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                self.connections += 1
                conn.close()

    def close(self) -> None:
        for s in (self.tcp, self.unix):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def _tree(folder: Path) -> dict[str, str]:
    """Relative path → content hash and mode of every file under ``folder``."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[str(path.relative_to(folder))] = f"{digest}:{oct(path.stat().st_mode)}"
    return found


def survivors(marker: str) -> list[str]:
    """Live processes of this test's sandboxes: an environment or working folder inside
    its folders (every child's HOME and TMPDIR are its scratch), or a leased sandbox uid
    with its environment wiped."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            status = (proc / "status").read_text()
            state = next(line for line in status.splitlines() if line.startswith("State:"))
            uid = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
            if "zombie" in state:
                continue
            environ = (proc / "environ").read_bytes()
            cwd = os.readlink(proc / "cwd")
        except (OSError, StopIteration, ValueError):
            continue
        # A sandbox uid alone is not enough: other gradings on a shared machine lease
        # them too. One that wiped its environment is counted anyway.
        in_range = uids.BASE_UID <= uid < uids.BASE_UID + uids.SLOTS
        wiped = in_range and b"HOME=" not in environ
        if wiped or marker.encode() in environ or cwd.startswith(marker):
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ")[:120]
            found.append(f"{proc.name} uid={uid} {cmd.decode(errors='replace')}")
    return found


def _wait_for_no_survivors(marker: str, timeout_s: float = 3.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        left = survivors(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# -- building and grading the batch ---------------------------------------------


def _fill(text: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        text = text.replace(key, value)
    return text


def write_entry(entry: Entry, folder: Path, subs: dict[str, str]) -> None:
    base = entry.meta.get("base")
    source = _fill(entry.source, subs)
    if base is not None:
        source = BASES[base].read_text() + "\n\n# -- the attack --\n\n" + source
    files = entry.meta.get("files")
    if not files:
        (folder / f"{entry.name}.py").write_text(source)
        return
    ws = folder / entry.name
    ws.mkdir()
    (ws / "rate_limiter.py").write_text(source)
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(_fill(text, subs))


def write_archives(folder: Path, canary: Path) -> list[str]:
    """Hostile archives: staging refuses them before anything is unpacked or graded."""
    with zipfile.ZipFile(folder / "zip_traversal.zip", "w") as zf:
        zf.writestr("ws/rate_limiter.py", REFERENCE.read_text())
        zf.writestr(f"ws/../../../../../../..{canary}/zipped.txt", "escaped")
    with zipfile.ZipFile(folder / "zip_bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ws/rate_limiter.py", REFERENCE.read_text())
        zf.writestr("ws/bomb.bin", b"\0" * (300 * 1024 * 1024))
    with tarfile.open(folder / "tar_symlink.tar.gz", "w:gz") as tar:
        link = tarfile.TarInfo("ws/rate_limiter.py")
        link.type = tarfile.SYMTYPE
        link.linkname = str(canary / "victim.txt")
        tar.addfile(link)
        evil = tarfile.TarInfo(f"ws/../../{canary.name}/tarred.txt")
        data = b"escaped"
        evil.size = len(data)
        tar.addfile(evil, io.BytesIO(data))
    return ["zip_traversal", "zip_bomb", "tar_symlink"]


@dataclass
class CorpusRun:
    level: str
    isolation: str
    out: Path
    entries: list[Entry]
    archives: list[str]
    seconds: float
    stdout: str
    connections: int
    changed: dict[str, Any]
    left: list[str]
    pickled: bool
    reports: dict[str, Any] = field(default_factory=dict)

    def report(self, name: str) -> Any:
        if name not in self.reports:
            self.reports[name] = load_report(self.out / name / "report.json")
        return self.reports[name]


def _isolation_for(level: str) -> str:
    """The level ``DSKATA_ISOLATION=level`` runs at here; skips loudly if impossible."""
    old = os.environ.get("DSKATA_ISOLATION")
    os.environ["DSKATA_ISOLATION"] = level
    try:
        from dskata.sandbox import launcher

        launcher._chosen.cache_clear()
        return default_launcher().isolation
    except SandboxUnavailable as exc:
        pytest.skip(f"LOUD SKIP: isolation level {level} is not available here: {exc}")
    finally:
        if old is None:
            os.environ.pop("DSKATA_ISOLATION")
        else:
            os.environ["DSKATA_ISOLATION"] = old


def grade_corpus(base: Path, level: str, entries: list[Entry]) -> CorpusRun:
    isolation = _isolation_for(level)
    folder, out, canary, tmp = (base / n for n in ("subs", "out", "canary", "tmp"))
    for made in (folder, canary, tmp):
        made.mkdir(parents=True)
    (canary / "victim.txt").write_text("the grader's file\n")
    for path in PLANTED:
        path.unlink(missing_ok=True)
    listener = Listener(canary)
    subs = {
        "@@CANARY@@": str(canary),
        "@@PORT@@": str(listener.port),
        "@@UNIX@@": str(listener.unix_path),
        "@@OUT@@": str(out),
        "@@REPO@@": str(ROOT),
    }
    entries = [e for e in entries if e.expect(isolation) != "skip"]
    for entry in entries:
        write_entry(entry, folder, subs)
    archives = write_archives(folder, canary)
    shutil.copy(REFERENCE, folder / "good_reference.py")
    (folder / "good_alternative").mkdir()
    shutil.copy(ALT, folder / "good_alternative" / "rate_limiter.py")
    shutil.copy(MUTANT, folder / "mutant_strict.py")
    watched = {
        "canary": canary,
        "subs": folder,
        "graders": ROOT / "graders",
        "reference_solutions": ROOT / "reference_solutions",
    }
    before = {name: _tree(path) for name, path in watched.items()}
    env = {**os.environ, "DSKATA_ISOLATION": level, "TMPDIR": str(tmp)}
    argv = [
        sys.executable,
        "-m",
        "dskata",
        "grade",
        "--batch",
        str(folder),
        "--exercise",
        "rate_limiter",
        "--check",
        CHECK,
        "--out",
        str(out),
        "--jobs",
        "2",
    ]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1500)
    seconds = time.monotonic() - started
    left = _wait_for_no_survivors(str(base))
    listener.close()
    after = {name: _tree(path) for name, path in watched.items()}
    changed: dict[str, Any] = {
        name: sorted(set(before[name].items()) ^ set(after[name].items()))
        for name in watched
        if before[name] != after[name]
    }
    changed.update({str(p): True for p in PLANTED if p.exists()})
    for path in PLANTED:
        path.unlink(missing_ok=True)
    assert done.returncode == 2, done.stdout + done.stderr  # 2: the archives are not graded
    return CorpusRun(
        level,
        isolation,
        out,
        entries,
        archives,
        seconds,
        done.stdout,
        listener.connections,
        changed,
        left,
        (canary / "pickled").exists(),
    )


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    yield grade_corpus(tmp_path_factory.mktemp("hostile"), LEVEL, FAST)


@pytest.fixture(scope="module")
def slow_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    yield grade_corpus(tmp_path_factory.mktemp("hostile-slow"), LEVEL, SLOW)


@pytest.fixture(scope="module")
def degraded_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    yield grade_corpus(tmp_path_factory.mktemp("hostile-degraded"), "subprocess", BATCHED)


# -- the assertions ----------------------------------------------------------------


def assert_entry(run: CorpusRun, entry: Entry) -> None:
    expected = entry.expect(run.isolation)
    if expected == "skip":
        pytest.skip(f"{entry.name} is not graded at the {run.isolation} level (its docstring)")
    report = run.report(entry.name)
    statuses = {c.id: c.status for c in report.checks}
    assert statuses == {CHECK: expected}, (entry.meta["attack"], statuses)
    assert report.isolation == run.isolation
    assert report.isolation_degraded is (run.isolation == "subprocess")
    assert report.infra_error is None
    assert report.score == (100.0 if expected == "passed" else 0.0)
    assert report.duration_s < REPORT_BUDGET_S, f"{entry.name}: {report.duration_s:.1f} s"
    # The candidate's log reaches the report only as a capped excerpt.
    assert (run.out / entry.name / "report.json").stat().st_size < 200_000


def assert_contained(run: CorpusRun) -> None:
    """Whatever the entries attempted, at this level nothing leaked but what they declare."""
    declared = set().union(*(e.leaks(run.isolation) for e in run.entries))
    assert not run.left, f"processes of a sandbox survived: {run.left}"
    assert not run.pickled, "a pickle from a child was unpickled in the grader"
    if "files" not in declared:
        assert not run.changed, f"files outside the scratch folders changed: {run.changed}"
    if "network" not in declared:
        assert run.connections == 0, f"{run.connections} connections reached the listeners"


def assert_batch_safe(run: CorpusRun) -> None:
    for good in ("good_reference", "good_alternative"):
        report = run.report(good)
        assert report.score == 100.0, (good, [(c.id, c.status) for c in report.checks])
    mutant = run.report("mutant_strict")
    assert {c.id: c.status for c in mutant.checks} == {CHECK: "failed"}
    for name in run.archives:  # refused by staging, said so, nothing unpacked
        assert not (run.out / name / "report.json").exists()
        assert f"{name}" in run.stdout
    assert not any((p / "zipped.txt").exists() for p in run.out.parents)


def test_the_corpus_is_big_enough() -> None:
    assert len(ENTRIES) >= 20
    statuses = {e.meta["expect"] for e in ENTRIES}
    assert {"passed", "failed", "crashed", "tampered", "timed_out", "resource_exceeded"} <= statuses


@pytest.mark.parametrize("entry", FAST, ids=[e.name for e in FAST])
def test_a_hostile_submission_costs_only_its_own_score(fast_run: CorpusRun, entry: Entry) -> None:
    assert_entry(fast_run, entry)


def test_the_fast_corpus_is_contained_and_the_batch_goes_on(fast_run: CorpusRun) -> None:
    assert_contained(fast_run)
    assert_batch_safe(fast_run)
    if LEVEL == "auto" and shutil.which("bwrap"):  # tasks.py installs it, or says why not
        assert fast_run.isolation == "bubblewrap"


@pytest.mark.slow
@pytest.mark.parametrize("entry", SLOW, ids=[e.name for e in SLOW])
def test_a_hanging_hostile_submission_costs_only_its_own_score(
    slow_run: CorpusRun, entry: Entry
) -> None:
    assert_entry(slow_run, entry)


@pytest.mark.slow
def test_the_slow_corpus_is_contained_and_the_batch_goes_on(slow_run: CorpusRun) -> None:
    assert_contained(slow_run)
    assert_batch_safe(slow_run)


@pytest.mark.slow
@pytest.mark.parametrize("entry", BATCHED, ids=[e.name for e in BATCHED])
def test_degraded_mode_meets_its_weaker_expectations(degraded_run: CorpusRun, entry: Entry) -> None:
    assert_entry(degraded_run, entry)


@pytest.mark.slow
def test_degraded_mode_is_flagged_and_still_reaps_everything(degraded_run: CorpusRun) -> None:
    assert degraded_run.isolation == "subprocess"
    assert_contained(degraded_run)
    assert_batch_safe(degraded_run)
    assert json.loads((degraded_run.out / "good_reference" / "report.json").read_text())[
        "isolation_degraded"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("entry", OWN, ids=[e.name for e in OWN])
def test_a_hostile_redis_client_cannot_take_the_kits_redis_over(
    tmp_path: Path, entry: Entry
) -> None:
    """Graded alone on its part-3 checks (~15 s: a Redis is started for it)."""
    write_entry(entry, tmp_path, {"@@REPO@@": str(ROOT)})
    out = tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "dskata",
        "grade",
        str(tmp_path / f"{entry.name}.py"),
        "--exercise",
        "rate_limiter",
        "--parts",
        "3",
        "--out",
        str(out),
        "--quiet",
    ]
    for check in entry.meta["checks"]:
        argv += ["--check", check]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = load_report(out / "report.json")
    statuses = {c.id: c.status for c in report.checks}
    assert statuses == dict.fromkeys(entry.meta["checks"], entry.meta["expect"]), [
        (c.id, c.status, c.evidence.summary if c.evidence else None) for c in report.checks
    ]
    assert report.infra_error is None and report.redis is not None
