"""``dskata compare``: several candidates' reports side by side, for the hiring committee.

Builds one ``Comparison`` from report.json files and renders it three ways:
``compare.html`` (self-contained, a stacked bar chart and a pass/fail grid),
``compare.md`` (pasteable) and ``compare.csv`` (for a spreadsheet). Rows are sorted
by score, highest first, ties by label.

Reports are only comparable when made the same way. Reports of different exercises
are refused (``MixedExercises``, exit 2) unless forced; reports that differ in kit
version, exercise version, parts or seed profile are compared with a loud warning
on every page, because their scores were earned on different checks or cases.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from dskata.errors import UsageError
from dskata.report import _format, _templates
from dskata.report._files import write_text_atomic
from dskata.report.json_report import load_report
from dskata.report.markdown import cell, text
from dskata.results import Report
from dskata.scoring import NOT_MEASURED_LEVEL

COMPARE_FILES: tuple[str, ...] = ("compare.html", "compare.md", "compare.csv")
# One letter per status for the grid; the page's legend explains them.
GRID_MARKS: dict[str, str] = {
    "passed": "✓",
    "failed": "✗",
    "timed_out": "T",
    "crashed": "C",
    "resource_exceeded": "R",
    "tampered": "!",
    "not_attempted": "–",
    "infra_error": "?",
}
GRID_CLASS: dict[str, str] = {
    "passed": "pass",
    "not_attempted": "skip",
    "infra_error": "warn",
    "timed_out": "fail",
}


class MixedExercises(UsageError):
    """Raised when the reports to compare are for different exercises (and not forced)."""


@dataclass(frozen=True)
class Row:
    """One candidate: its report, a unique label, where its report.html is (if any)."""

    label: str
    report: Report
    source: str  # the report.json path as given
    page: str | None = None  # link to the candidate's report.html, relative to the output

    def status(self, check_id: str) -> str | None:
        return next((c.status for c in self.report.checks if c.id == check_id), None)

    @property
    def passed(self) -> int:
        return sum(c.status == "passed" for c in self.report.checks)

    def killed(self, mutant: str) -> bool | None:
        """Whether this candidate's own tests caught ``mutant`` (None: not run for them)."""
        testing = self.report.testing
        found = [m for m in testing.mutants if m.name == mutant] if testing else []
        return found[0].killed if found else None

    @property
    def testing_line(self) -> str:
        """The own-tests result in a few words: "12/15 caught", "fails on reference", …"""
        t = self.report.testing
        if t is None:
            return ""
        if t.verdict == "scored":
            return f"{len(t.caught)}/{len(t.mutants)} caught"
        return {"no_tests": "no own tests", "fails_on_reference": "fail on a correct solution"}.get(
            t.verdict, "not measured (kit failure)"
        )

    @property
    def health_line(self) -> str:
        h = self.report.code_health
        if h is None:
            return ""
        if h.error is not None:
            return "not measured"
        return f"{sum(s.ok for s in h.signals)}/{len(h.signals)} signals ok"


@dataclass
class Comparison:
    rows: list[Row]
    check_ids: list[str]
    titles: dict[str, str]
    warnings: list[str]
    not_graded: list[tuple[str, str]] = field(default_factory=list)
    # The known mistakes some candidate's own tests ran against (name -> mistake).
    mutants: dict[str, str] = field(default_factory=dict)

    @property
    def has_quality(self) -> bool:
        """Some report measured own tests, code health or integrity signals."""
        return any(
            r.report.testing or r.report.code_health or r.report.integrity_signals
            for r in self.rows
        )

    @property
    def exercise(self) -> str:
        return ", ".join(dict.fromkeys(r.report.exercise for r in self.rows))

    @property
    def dimensions(self) -> list[str]:
        """Dimensions with points available in at least one report, in report order."""
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row.report.dimensions))
        return [n for n in names if any(_available(r.report, n) for r in self.rows)]

    @property
    def scorecard_rows(self) -> list[str]:
        """Scorecard rows some report has a level for (not "not measured" everywhere)."""
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row.report.scorecard))
        return [
            n
            for n in names
            if any(
                r.report.scorecard.get(n, NOT_MEASURED_LEVEL) != NOT_MEASURED_LEVEL
                for r in self.rows
            )
        ]


def _available(report: Report, dimension: str) -> bool:
    dim = report.dimensions.get(dimension)
    return dim is not None and dim.max_score > 0


def load_all(paths: Sequence[Path]) -> list[tuple[Path, Report]]:
    """Loads and validates every report; raises InvalidReport (exit 2) for the first bad one."""
    if not paths:
        raise UsageError("give at least one report.json to compare")
    return [(path, load_report(path)) for path in paths]


def build(
    loaded: Sequence[tuple[Path, Report]],
    *,
    force: bool = False,
    out_dir: Path | None = None,
    not_graded: Sequence[tuple[str, str]] = (),
    labels: Sequence[str] | None = None,
) -> Comparison:
    """Builds the comparison; raises MixedExercises unless ``force`` when exercises differ.

    ``labels`` name the candidates (a batch's folder labels); by default each report's
    submission label, made unique.
    """
    exercises = sorted({r.exercise for _, r in loaded})
    if len(exercises) > 1 and not force:
        raise MixedExercises(
            f"these reports are for different exercises ({', '.join(exercises)}); "
            "scores of different exercises mean different things. Compare one exercise "
            "at a time, or pass --force to put them side by side anyway"
        )
    labels = list(labels) if labels is not None else _labels(loaded)
    rows = [
        Row(label, report, str(path), _page(path, out_dir))
        for label, (path, report) in zip(labels, loaded, strict=True)
    ]
    rows.sort(key=lambda r: (-r.report.score, r.label))
    check_ids: dict[str, None] = {}
    titles: dict[str, str] = {}
    for _, report in loaded:
        for check in report.checks:
            check_ids.setdefault(check.id, None)
            titles.setdefault(check.id, check.title)
    mutants: dict[str, str] = {}
    for _, report in loaded:
        for m in report.testing.mutants if report.testing else []:
            mutants.setdefault(m.name, m.mistake)
    return Comparison(
        rows, list(check_ids), titles, _warnings(rows, exercises), list(not_graded), mutants
    )


def _labels(loaded: Sequence[tuple[Path, Report]]) -> list[str]:
    """Each report's submission label, made unique with its folder when two share one."""
    base = [r.submission or p.parent.name or p.stem for p, r in loaded]
    labels: list[str] = []
    for (path, _), label in zip(loaded, base, strict=True):
        if base.count(label) > 1:
            label = f"{label} ({path.parent.name or path.stem})"
        while label in labels:
            label += "′"
        labels.append(label)
    return labels


def _page(path: Path, out_dir: Path | None) -> str | None:
    html = path.with_name("report.html")
    if out_dir is None or not html.is_file():
        return None
    return Path(os.path.relpath(html.resolve(), out_dir.resolve())).as_posix()


def _warnings(rows: Sequence[Row], exercises: list[str]) -> list[str]:
    """One sentence per way the reports differ that makes their scores incomparable."""
    aspects: list[tuple[str, Callable[[Report], str]]] = [
        ("exercise", lambda r: r.exercise),
        ("kit version", lambda r: r.kit_version),
        ("exercise version", lambda r: r.exercise_version),
        ("parts", _format.parts),
        (
            "seed profile",
            lambda r: f"{r.seed_profile} ({_format.short_sha(r.seed_profile_sha256)})",
        ),
    ]
    found: list[str] = []
    for name, key in aspects:
        groups: dict[str, list[str]] = {}
        for row in rows:
            groups.setdefault(key(row.report), []).append(row.label)
        if len(groups) > 1:
            sides = "; ".join(f"{value}: {', '.join(who)}" for value, who in groups.items())
            found.append(f"The reports differ in {name} — {sides}.")
    if len(exercises) > 1:
        found.insert(
            0, "Forced: these reports are for different exercises; their scores are not comparable."
        )
    broken = [r.label for r in rows if r.report.infra_error]
    if broken:
        found.append(
            f"Incomplete gradings (the kit failed, not the candidate): {', '.join(broken)}; "
            "regrade them before judging."
        )
    return found


def kill_mark(killed: bool | None) -> str:
    return "·" if killed is None else "✓" if killed else "✗"


def kill_class(killed: bool | None) -> str:
    return "none" if killed is None else "pass" if killed else "fail"


def grid_mark(status: str | None) -> str:
    return "·" if status is None else GRID_MARKS.get(status, "?")


def grid_class(status: str | None) -> str:
    return "none" if status is None else GRID_CLASS.get(status, "fail")


def _context(comparison: Comparison) -> dict[str, object]:
    return {
        "cmp": comparison,
        "rows": comparison.rows,
        "first": comparison.rows[0].report if comparison.rows else None,
        "dimensions": comparison.dimensions,
        "marks": GRID_MARKS,
    }


@cache
def _env(autoescape: bool) -> jinja2.Environment:
    env = _templates.environment(autoescape=autoescape, text=text, cell=cell)
    env.globals.update(
        grid_mark=grid_mark,
        grid_class=grid_class,
        status_word=_format.status_word,
        kill_mark=kill_mark,
        kill_class=kill_class,
    )
    return env


def render_compare_html(comparison: Comparison) -> str:
    from dskata.report import charts  # matplotlib costs a second to import: only pages need it

    rows = [(r.label, r.report.score, r.report.dimensions) for r in comparison.rows]
    chart = Markup(charts.compare_chart(rows)) if rows else Markup("")
    return _env(True).get_template("compare.html.j2").render(**_context(comparison), chart=chart)


def render_compare_md(comparison: Comparison) -> str:
    return _env(False).get_template("compare.md.j2").render(**_context(comparison))


def compare_csv(comparison: Comparison) -> str:
    """One row per candidate: score, points per dimension, levels, per-check status, provenance."""
    dims = comparison.dimensions
    header = ["rank", "candidate", "score", "max_score", "checks_passed", "checks"]
    header += [f"{d} points" for d in dims] + [f"{d} max" for d in dims]
    header += comparison.scorecard_rows + comparison.check_ids
    header += [
        "exercise",
        "exercise_version",
        "kit_version",
        "parts",
        "seed_profile",
        "seed_profile_sha256",
        "submission_sha256",
        "infra_error",
        "report",
    ]
    header += _quality_header(comparison)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for rank, row in enumerate(comparison.rows, 1):
        r = row.report
        line: list[object] = [rank, row.label, _format.num(r.score), _format.num(r.max_score)]
        line += [row.passed, len(r.checks)]
        line += [_dim(r, d, "score") for d in dims] + [_dim(r, d, "max_score") for d in dims]
        line += [r.scorecard.get(s, "") for s in comparison.scorecard_rows]
        line += [row.status(c) or "" for c in comparison.check_ids]
        line += [r.exercise, r.exercise_version, r.kit_version, " ".join(map(str, r.parts))]
        line += [r.seed_profile, r.seed_profile_sha256, r.submission_sha256]
        line += [_format.one_line(r.infra_error or ""), row.source]
        line += _quality_cells(comparison, row)
        writer.writerow([_csv_safe(v) for v in line])
    return buf.getvalue()


def _quality_header(comparison: Comparison) -> list[str]:
    """Columns for own tests, code health and integrity: only when some report has them."""
    if not comparison.has_quality:
        return []
    head = ["own tests", "mutants caught", "mutants run", "code health", "integrity signals"]
    return head + [f"caught: {name}" for name in comparison.mutants]


def _quality_cells(comparison: Comparison, row: Row) -> list[object]:
    if not comparison.has_quality:
        return []
    t = row.report.testing
    cells: list[object] = [
        t.verdict if t else "",
        len(t.caught) if t else "",
        len(t.mutants) if t else "",
        row.health_line,
        len(row.report.integrity_signals or []),
    ]
    marks = {True: "yes", False: "no", None: ""}
    return cells + [marks[row.killed(name)] for name in comparison.mutants]


def _dim(report: Report, name: str, attr: str) -> str:
    dim = report.dimensions.get(name)
    return _format.num(getattr(dim, attr)) if dim else ""


def _csv_safe(value: object) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet; labels come from
    # file names a candidate chose. Quote it as text (OWASP's CSV-injection advice).
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_compare(comparison: Comparison, out_dir: Path, *, stem: str = "compare") -> list[Path]:
    """Writes ``<stem>.html``, ``.md`` and ``.csv`` into ``out_dir``; returns their paths."""
    texts = {
        f"{stem}.html": render_compare_html(comparison),
        f"{stem}.md": render_compare_md(comparison),
        f"{stem}.csv": compare_csv(comparison),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, body in texts.items():
        write_text_atomic(out_dir / name, body)
    return [out_dir / name for name in texts]
