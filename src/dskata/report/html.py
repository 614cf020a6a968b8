"""``report.html``: the same page as report.md, as one self-contained, printable file.

Rendered from ``templates/report.html.j2`` with autoescaping on, because stories,
summaries and log excerpts carry text the candidate's code produced.
"""

from __future__ import annotations

from functools import cache

import jinja2

from dskata.report import _templates
from dskata.results import Report


def render_html(report: Report) -> str:
    """Returns the HTML report: inline CSS and SVG, no scripts, no external resources."""
    return _templates.render(_environment(), "report.html.j2", report)


@cache
def _environment() -> jinja2.Environment:
    return _templates.environment(autoescape=True)
