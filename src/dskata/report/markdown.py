"""``report.md``: the one-page report an interviewer reads, from ``templates/report.md.j2``."""

from __future__ import annotations

import re
from functools import cache

import jinja2

from dskata.report import _format
from dskata.results import Report


def render_markdown(report: Report) -> str:
    """Returns the Markdown report; the same Report always gives the same text."""
    template = _environment().get_template("report.md.j2")
    return template.render(
        report=report,
        failed=report.failed_checks,
        passed=_format.passed_checks(report),
        parts=_format.parts(report),
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
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dskata.report", "templates"),
        # Markdown is not HTML: escaping would print "&amp;" into the page.
        autoescape=False,
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
        text=text,
        points=_format.points,
        fence=fence,
        cell=cell,
    )
    return env
