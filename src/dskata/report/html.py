"""``report.html``: the one page an interviewer reads, as one self-contained, printable file.

Rendered from ``templates/report.html.j2`` (sections in ``templates/html/``) with
autoescaping on, because stories, summaries and log excerpts carry text the
candidate's code produced. The charts are SVG drawn by ``charts.py``; their labels
are kit-made words and at most an exception's name, which matplotlib's SVG writer
escapes, so they are inlined as markup.
"""

from __future__ import annotations

from functools import cache

import jinja2
from markupsafe import Markup

from dskata.report import _format, _templates
from dskata.results import Report


def render_html(report: Report) -> str:
    """Returns the HTML report: inline CSS and SVG, no scripts, no external resources."""
    from dskata.report import charts  # matplotlib costs a second to import: only pages need it

    timelines = {
        c.id: Markup(charts.timeline_chart(c.evidence.timeline, salt=c.id))
        for c in report.failed_checks
        if c.evidence and c.evidence.timeline and c.evidence.timeline.lanes
    }
    return _templates.render(
        _environment(),
        "report.html.j2",
        report,
        sections=_templates.HTML_SECTIONS,
        dimension_svg=Markup(charts.dimension_chart(_format.measured(report))),
        timeline_svgs=timelines,
    )


@cache
def _environment() -> jinja2.Environment:
    return _templates.environment(autoescape=True)
