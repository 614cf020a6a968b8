"""``dskata grade --batch DIR``: grade every submission in a folder, then compare them.

A submission is an entry of DIR: a sub-folder (a workspace), a ``.zip``, a
``.tar.gz``/``.tgz``, or a bare ``.py`` module (which needs ``--exercise``). Hidden
entries and anything else are ignored (and listed). Each one is graded by
``dskata.grade.grade`` exactly as ``dskata grade`` would, into ``OUT/<label>/``,
up to ``jobs`` at once (each grading is its own pytest process, so threads suffice
to drive them, as ``dskata verify`` does).

Resumable: a submission whose report in ``OUT/<label>/`` is up to date (same
submission sha256, seed profile sha256, kit and exercise version, parts) is not
graded again. One submission never stops the batch: one that cannot be staged
becomes an *error* entry in the summary, a kit failure a *kit error* entry.
At the end ``OUT/batch.json`` lists every entry and ``OUT/compare.*`` compares the
reports (``compare-<exercise>.*`` per exercise when the folder mixes exercises).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dskata.errors import DskataError, UsageError
from dskata.grade import GradeRequest, default_shards, grade
from dskata.report import compare
from dskata.report._files import write_text_atomic
from dskata.results import Report

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
Kind = Literal["graded", "skipped", "error", "kit_error"]


@dataclass(frozen=True)
class Entry:
    """One submission of the batch folder and the label its reports go under."""

    label: str
    path: Path


@dataclass
class Outcome:
    entry: Entry
    kind: Kind
    message: str = ""
    report: Report | None = None
    out_dir: Path | None = None


@dataclass(frozen=True)
class BatchRequest:
    folder: Path
    out: Path
    exercise: str | None = None
    parts: tuple[int, ...] | None = None
    seeds: str = "default"
    checks: tuple[str, ...] = ()
    jobs: int = 2


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    ignored: list[str]
    compare_files: list[Path] = field(default_factory=list)

    def of(self, *kinds: Kind) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind in kinds]

    @property
    def exit_code(self) -> int:
        """3 when the kit failed somewhere, 2 when a submission could not be staged, else 0."""
        if self.of("kit_error"):
            return 3
        return 2 if self.of("error") else 0


# What the batch tells its caller as it goes (the CLI draws it):
# ("total", Entry("", folder), count) once, then per submission
# ("start", entry, None) → ("check", entry, progress event)… → ("done", entry, outcome).
Listener = Callable[[str, Entry, object], None]


def _label(path: Path) -> str:
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name.removesuffix(".py") if name.endswith(".py") else name


def find_submissions(folder: Path, out: Path) -> tuple[list[Entry], list[str]]:
    """Returns the submissions in ``folder`` (sorted by name) and the names it ignored.

    Labels are the entry names without their suffix, made safe for a folder name and
    unique (``alice`` and ``alice.zip`` become ``alice`` and ``alice-2``), so the same
    folder always gives the same labels and resume finds its reports again.
    """
    if not folder.is_dir():
        raise UsageError(f"--batch {folder}: not a folder")
    entries: list[Entry] = []
    ignored: list[str] = []
    used: set[str] = set()
    out_resolved = out.resolve()
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.resolve() == out_resolved:
            continue
        lower = path.name.lower()
        if not (path.is_dir() or lower.endswith((*ARCHIVE_SUFFIXES, ".py"))):
            ignored.append(path.name)
            continue
        base = re.sub(r"[^A-Za-z0-9_.@+-]+", "_", _label(path)).strip("._") or "submission"
        label, n = base, 2
        while label.lower() in used:
            label, n = f"{base}-{n}", n + 1
        used.add(label.lower())
        entries.append(Entry(label, path))
    return entries, ignored


def _grade_one(request: BatchRequest, entry: Entry, listen: Listener) -> Outcome:
    listen("start", entry, None)
    out_dir = request.out / entry.label
    try:
        graded = grade(
            GradeRequest(
                path=entry.path,
                exercise=request.exercise,
                parts=request.parts,
                seeds=request.seeds,
                checks=request.checks,
                out=out_dir,
                # Gradings side by side already fill the cores; one alone splits its checks.
                shards=1 if request.jobs > 1 else default_shards(),
            ),
            progress=lambda event: listen("check", entry, event),
            reuse=True,
        )
    except UsageError as exc:  # this submission cannot be graded as asked: its entry says why
        outcome = Outcome(entry, "error", str(exc))
    except DskataError as exc:
        outcome = Outcome(entry, "kit_error", f"the kit failed: {exc}")
    except Exception as exc:  # a kit bug must not stop the other gradings
        outcome = Outcome(entry, "kit_error", f"the kit failed: {type(exc).__name__}: {exc}")
    else:
        report = graded.report
        if report.infra_error:
            kind: Kind = "kit_error"
            message = f"infra error (the kit's fault): {report.infra_error.splitlines()[0]}"
        else:
            kind = "skipped" if graded.reused else "graded"
            message = "up to date, not graded again" if graded.reused else ""
        outcome = Outcome(entry, kind, message, report, graded.out_dir)
    listen("done", entry, outcome)
    return outcome


def run_batch(request: BatchRequest, listen: Listener | None = None) -> BatchResult:
    """Grades the folder's submissions, writes batch.json and the comparison; returns all.

    Raises UsageError only for a problem with the request itself (no such folder);
    anything that goes wrong with one submission is recorded in its Outcome.
    """
    entries, ignored = find_submissions(request.folder, request.out)
    lock = threading.Lock()

    def told(kind: str, entry: Entry, data: object) -> None:
        if listen is not None:
            with lock:  # gradings finish on several pool threads
                listen(kind, entry, data)

    request.out.mkdir(parents=True, exist_ok=True)
    told("total", Entry("", request.folder), len(entries))
    with ThreadPoolExecutor(max_workers=max(1, request.jobs)) as pool:
        outcomes = list(pool.map(lambda e: _grade_one(request, e, told), entries))
    result = BatchResult(outcomes, ignored)
    result.compare_files = _write_comparisons(request.out, outcomes)
    _write_summary(request.out, result)
    return result


def _write_comparisons(out: Path, outcomes: list[Outcome]) -> list[Path]:
    with_reports = [o for o in outcomes if o.report is not None and o.out_dir is not None]
    not_graded = [(o.entry.path.name, o.message) for o in outcomes if o.report is None]
    by_exercise: dict[str, list[Outcome]] = {}
    for o in with_reports:
        assert o.report is not None
        by_exercise.setdefault(o.report.exercise, []).append(o)
    written: list[Path] = []
    for slug, group in by_exercise.items():
        loaded = [(o.out_dir / "report.json", o.report) for o in group if o.out_dir and o.report]
        labels = [o.entry.label for o in group]
        comparison = compare.build(loaded, out_dir=out, not_graded=not_graded, labels=labels)
        if len(by_exercise) == 1:
            written += compare.write_compare(comparison, out)
        else:
            written += compare.write_compare(comparison, out, stem=f"compare-{slug}")
    return written


def _write_summary(out: Path, result: BatchResult) -> None:
    data = {
        "submissions": [
            {
                "label": o.entry.label,
                "source": str(o.entry.path),
                "status": o.kind,
                "message": o.message,
                "score": o.report.score if o.report else None,
                "reports": str(o.out_dir) if o.out_dir else None,
            }
            for o in result.outcomes
        ],
        "ignored": result.ignored,
        "compare": [str(p) for p in result.compare_files],
        "exit_code": result.exit_code,
    }
    write_text_atomic(out / "batch.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
