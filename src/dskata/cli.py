"""The ``dskata`` command line: parses, delegates, prints. No grading logic lives here.

Exit status: 0 when the work was done (a report was written, whatever the score),
2 for usage mistakes, 3 when the kit itself failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

import dskata
from dskata.catalog import all_exercises, get_exercise, parse_parts
from dskata.errors import DskataError, UsageError
from dskata.grade import GradeRequest, default_shards, grade
from dskata.report import REPORT_FILES, print_summary
from dskata.seeds import load_profile, new_profile
from dskata.workspace import start_workspace

console = Console(stderr=True)
out = Console()


def _fail(error: DskataError) -> NoReturn:
    # Plain echo, not rich: one unwrapped line that scripts and people can both read.
    click.echo(f"error: {error}", err=True)
    sys.exit(error.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(dskata.__version__, prog_name="dskata")
def main() -> None:
    """Distributed-systems interview exercises with hidden, trustworthy graders."""


@main.command("list")
def list_exercises() -> None:
    """List the exercises, their parts and versions."""
    table = Table(title="dskata exercises")
    for column in ("exercise", "version", "parts", "summary"):
        table.add_column(column)
    for ex in all_exercises():
        parts = "\n".join(f"{p.number}. {p.title} (≈{p.minutes} min)" for p in ex.parts)
        table.add_row(ex.slug, ex.version, parts, ex.summary)
    out.print(table)


@main.command()
@click.argument("slug")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--parts", help="parts to assign, e.g. 1,2 (default: all)")
def start(slug: str, directory: Path, parts: str | None) -> None:
    """Write a candidate workspace for exercise SLUG into DIRECTORY."""
    try:
        exercise = get_exercise(slug)
        chosen = exercise.check_parts(parse_parts(parts) if parts else None)
        start_workspace(exercise, directory, chosen)
    except DskataError as error:
        _fail(error)
    out.print(f"Workspace for [bold]{slug}[/] (parts {', '.join(map(str, chosen))}) in {directory}")
    out.print("Hand it to the candidate; they run the public tests with: pip install . && pytest")


@main.command("grade")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--exercise", "exercise", help="exercise slug (required for a bare module file)")
@click.option("--parts", help="parts to grade, e.g. 1,2 (default: the workspace's own)")
@click.option("--seeds", default="default", show_default=True, help="seed profile name or file")
@click.option("--check", "checks", multiple=True, help="grade only this check id (repeatable)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="report folder")
@click.option("--quiet", is_flag=True, help="print only where the reports are")
@click.option(
    "--batch",
    "batch_dir",
    type=click.Path(path_type=Path),
    help="grade every submission in this folder (sub-folders, .zip, .tar.gz, .py), then compare",
)
@click.option("--jobs", default=2, show_default=True, help="with --batch: gradings run at once")
@click.option(
    "--shards",
    type=click.IntRange(1, 8),
    help="grading sessions that split one submission's checks  [default: cores + 1, ≤ 3]",
)
def grade_command(
    path: Path | None,
    exercise: str | None,
    parts: str | None,
    seeds: str,
    checks: tuple[str, ...],
    out_dir: Path | None,
    quiet: bool,
    batch_dir: Path | None,
    jobs: int,
    shards: int | None,
) -> None:
    """Grade a submission: a workspace folder, a .zip/.tar.gz of one, or a module file.

    With --batch DIR, grade every submission in DIR into OUT/<label>/ (OUT defaults to
    DIR-reports next to DIR), skipping those whose reports are up to date, and write
    the committee comparison OUT/compare.{html,md,csv}.
    """
    if (path is None) == (batch_dir is None):
        _fail(UsageError("give either a submission PATH or --batch DIR (not both)"))
    try:
        parsed = parse_parts(parts) if parts else None
        if batch_dir is not None:
            _grade_batch(batch_dir, exercise, parsed, seeds, checks, out_dir, jobs, quiet)
            return
        assert path is not None
        request = GradeRequest(
            path=path,
            exercise=exercise,
            parts=parsed,
            seeds=seeds,
            checks=checks,
            out=out_dir,
            shards=shards or default_shards(),
        )
        with _progress(quiet) as on_event:
            graded = grade(request, progress=on_event)
    except DskataError as error:
        _fail(error)
    if not quiet:
        print_summary(graded.report, out)
    out.print(f"Reports: {graded.out_dir}/ ({', '.join(REPORT_FILES)})", soft_wrap=True)
    if graded.report.infra_error:
        console.print(f"[bold red]infra error (the kit's fault):[/] {graded.report.infra_error}")
        sys.exit(3)


def _grade_batch(
    folder: Path,
    exercise: str | None,
    parts: tuple[int, ...] | None,
    seeds: str,
    checks: tuple[str, ...],
    out_dir: Path | None,
    jobs: int,
    quiet: bool,
) -> None:
    from dskata.batch import BatchRequest, run_batch  # imported late: only --batch needs it
    from dskata.cli_batch import BatchProgress, print_batch_summary

    if jobs < 1:
        raise UsageError(f"--jobs={jobs} must be at least 1")
    load_profile(seeds)  # a bad --seeds is one usage error, not one per submission
    request = BatchRequest(
        folder=folder,
        out=out_dir or folder.resolve().parent / f"{folder.resolve().name}-reports",
        exercise=exercise,
        parts=parts,
        seeds=seeds,
        checks=checks,
        jobs=jobs,
    )
    with BatchProgress(console, quiet=quiet) as progress:
        result = run_batch(request, progress)
    print_batch_summary(result, out, request.out)
    sys.exit(result.exit_code)


@main.command("compare")
@click.argument("reports", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="folder that receives compare.html, compare.md and compare.csv",
)
@click.option("--force", is_flag=True, help="compare reports of different exercises anyway")
def compare_command(reports: tuple[Path, ...], out_dir: Path, force: bool) -> None:
    """Compare candidates: REPORT... are report.json files (or folders holding one)."""
    from dskata.report import compare

    paths = [p / "report.json" if p.is_dir() else p for p in reports]
    try:
        comparison = compare.build(compare.load_all(paths), force=force, out_dir=out_dir)
        files = compare.write_compare(comparison, out_dir)
    except DskataError as error:
        _fail(error)
    for warning in comparison.warnings:
        console.print(Text.assemble(("WARNING: ", "bold black on yellow"), " ", warning))
    out.print(
        f"Compared {len(comparison.rows)} reports: " + ", ".join(str(f) for f in files),
        soft_wrap=True,
    )


class _progress:
    """Progress fed by the grading session's per-check events.

    A rich bar on a terminal; one line per finished check in a log (CI, a pipe).
    """

    def __init__(self, quiet: bool) -> None:
        self.lines = not quiet and not console.is_terminal
        self.done = 0
        self.total = "?"
        self.bar = Progress(
            TextColumn("[bold]grading[/]"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} {task.description}"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet or self.lines,
            transient=True,
        )
        self.task = self.bar.add_task("", total=None)

    def __enter__(self) -> _progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def __call__(self, event: dict[str, object]) -> None:
        if self.lines:
            if "total" in event:
                self.total = str(event["total"])
            else:
                self.done += 1
                click.echo(
                    f"  [{self.done}/{self.total}] {event['done']} {event['status']}", err=True
                )
            return
        if "total" in event:
            self.bar.update(self.task, total=float(str(event["total"])))
        else:
            self.bar.update(self.task, advance=1, description=f"{event['done']} {event['status']}")


@main.command()
@click.argument("slugs", nargs=-1)
@click.option(
    "--repeat",
    default=1,
    show_default=True,
    help="grade everything N times; any varying score fails",
)
@click.option("--jobs", default=2, show_default=True, help="gradings run at once")
@click.option(
    "--declared-only",
    is_flag=True,
    help="grade each mutant only on the checks it declares (same verdicts, faster)",
)
def verify(slugs: tuple[str, ...], repeat: int, jobs: int, declared_only: bool) -> None:
    """Prove graders sound: reference full marks, stub zero, every mutant caught."""
    from dskata.verify import run_verify  # imported late: only this command needs it

    try:
        ok = run_verify(
            list(slugs), repeat=repeat, jobs=jobs, console=out, declared_only=declared_only
        )
    except DskataError as error:
        _fail(error)
    sys.exit(0 if ok else 1)


@main.group()
def seeds() -> None:
    """Seed profiles: the same generated cases for every candidate of a hiring cycle."""


@seeds.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="where to write it")
def seeds_new(name: str, directory: Path | None) -> None:
    """Write a fresh private seed profile NAME."""
    try:
        profile = new_profile(name, directory)
    except DskataError as error:
        _fail(error)
    out.print(f"Seed profile {profile.name!r} written to {profile.path}")
    out.print(f"Grade a cycle with it: dskata grade … --seeds {profile.path}")
