"""``report.md``: the one-page report an interviewer reads, from ``templates/report.md.j2``.

Plain GitHub-flavoured Markdown (tables, lists, fences; no HTML), so it can be pasted
into a hiring tool. Links to a failed check use the anchor renderers give a heading
that is just the check id.
"""

from __future__ import annotations

import re
from functools import cache

import jinja2

from dskata.report import _format, _templates
from dskata.results import Report


def render_markdown(report: Report) -> str:
    """Returns the Markdown report; the same Report always gives the same text."""
    return _templates.render(
        _environment(), "report.md.j2", report, sections=_templates.MD_SECTIONS
    )


def fence(text: str) -> str:
    """A code fence longer than any backtick run in ``text``, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def text(value: object) -> str:
    """Makes a value safe as inline Markdown: one line, and no ``<`` that could open HTML.

    Summaries and stories can quote what the candidate's code said; a renderer that
    passes HTML through must show it, not run it.
    """
    return _format.one_line(str(value)).replace("<", "\\<")


def cell(value: object) -> str:
    """Makes a value safe inside a Markdown table cell: ``text``, with pipes escaped too."""
    return text(value).replace("|", "\\|")


@cache
def _environment() -> jinja2.Environment:
    # Markdown is not HTML: escaping would print "&amp;" into the page.
    return _templates.environment(autoescape=False, text=text, fence=fence, cell=cell)
