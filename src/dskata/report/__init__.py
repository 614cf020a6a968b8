"""Report writers: ``report.json`` (schema-checked), ``report.md``, ``report.html``,
the exports (``report.junit.xml``, Gradescope ``results.json``), the terminal summary,
and the committee comparison (``compare.*``).

All of them read ``dskata.results.Report``; none of them computes a score (that is
``dskata.scoring``'s job), so the views cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from dskata.report._files import write_text_atomic
from dskata.report.exports import gradescope_json, junit_xml
from dskata.report.html import render_html
from dskata.report.json_report import (
    InvalidReport,
    dumps,
    load_report,
    schema,
    validate,
    write_json,
)
from dskata.report.markdown import render_markdown
from dskata.report.terminal import print_summary
from dskata.results import Report

__all__ = [
    "REPORT_FILES",
    "InvalidReport",
    "gradescope_json",
    "junit_xml",
    "load_report",
    "print_summary",
    "render_html",
    "render_markdown",
    "schema",
    "validate",
    "write_all",
    "write_json",
]


# Every file one grading writes into its report folder, report.json first.
REPORT_FILES: tuple[str, ...] = (
    "report.json",
    "report.md",
    "report.html",
    "report.junit.xml",
    "results.json",
)


def write_all(report: Report, out_dir: Path) -> list[Path]:
    """Writes every file of ``REPORT_FILES`` into ``out_dir`` (created if needed).

    Returns the paths written, in that order. Everything is rendered before anything
    is written, and the JSON is validated first: an invalid report raises KitError and
    leaves no new file behind. report.json is written last, so a folder whose
    report.json is current has every other file current too (batch resume relies on it).
    """
    json_text = dumps(report)
    texts = {
        "report.md": render_markdown(report),
        "report.html": render_html(report),
        "report.junit.xml": junit_xml(report),
        "results.json": gradescope_json(report),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_text_atomic(out_dir / name, text)
    write_text_atomic(out_dir / "report.json", json_text)
    return [out_dir / name for name in REPORT_FILES]
