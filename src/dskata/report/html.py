"""``report.html``: the same page as report.md, as one self-contained, printable file.

Rendered from ``templates/report.html.j2`` with autoescaping on, because stories,
summaries and log excerpts carry text the candidate's code produced.
"""

from __future__ import annotations

from functools import cache

import jinja2

from dskata.report import _format
from dskata.results import Report


def render_html(report: Report) -> str:
    """Returns the HTML report: inline CSS and SVG, no scripts, no external resources."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        failed=report.failed_checks,
        passed=_format.passed_checks(report),
        parts=_format.parts(report),
    )


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dskata.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=_format.num,
        seconds=_format.seconds,
        short_sha=_format.short_sha,
        status_word=_format.status_word,
        anchor=_format.anchor,
        points=_format.points,
    )
    return env
