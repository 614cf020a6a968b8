"""Report writers: ``report.json`` (schema-checked), ``report.md``, ``report.html``, terminal.

All of them read one ``dskata.results.Report``; none of them computes a score
(that is ``dskata.scoring``'s job), so the views cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from dskata.report._files import write_text_atomic
from dskata.report.html import render_html
from dskata.report.json_report import InvalidReport, load_report, schema, validate, write_json
from dskata.report.markdown import render_markdown
from dskata.report.terminal import print_summary
from dskata.results import Report

__all__ = [
    "InvalidReport",
    "load_report",
    "print_summary",
    "render_html",
    "render_markdown",
    "schema",
    "validate",
    "write_all",
    "write_json",
]


def write_all(report: Report, out_dir: Path) -> list[Path]:
    """Writes report.json, report.md and report.html into ``out_dir`` (created if needed).

    Returns the paths written, JSON first. Everything is rendered before anything is
    written, and the JSON is validated first: an invalid report raises KitError and
    leaves no new file behind.
    """
    markdown = render_markdown(report)
    html = render_html(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    md_path = out_dir / "report.md"
    html_path = out_dir / "report.html"
    write_json(report, json_path)
    write_text_atomic(md_path, markdown)
    write_text_atomic(html_path, html)
    return [json_path, md_path, html_path]
