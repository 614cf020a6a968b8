"""The Jinja environment and page context that report.md and report.html share.

Both pages are the same report told in two markups: same filters, same context. Only
escaping differs (HTML escapes; Markdown must not, or "&amp;" lands in the page), and
Markdown adds its own filters.

A page is a list of sections, each its own template (``templates/html/<name>.j2``,
``templates/md/<name>.j2``) rendered in the order of ``HTML_SECTIONS`` /
``MD_SECTIONS``. A new kind of evidence (a "testing" or "code health" block, say) is
one new template and one name in these lists; a section with nothing to say
renders nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2

from dskata.report import _format
from dskata.results import Report

HTML_SECTIONS: tuple[str, ...] = (
    "header",
    "glance",
    "dimensions",
    "broke",
    "debrief",
    "failed",
    "quality",
    "passed",
    "not_measured",
)
MD_SECTIONS: tuple[str, ...] = (
    "header",
    "glance",
    "dimensions",
    "debrief",
    "failed",
    "quality",
    "passed",
    "not_measured",
)


def environment(*, autoescape: bool, **filters: Callable[..., Any]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dskata.report", "templates"),
        autoescape=autoescape,
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
        gfm_anchor=_format.gfm_anchor,
        points=_format.points,
        text_bar=_format.text_bar,
        level_class=_format.level_class,
        **filters,
    )
    env.globals.update(percent=_format.percent)
    return env


def context(report: Report) -> dict[str, Any]:
    """What every report page (and every section) can use."""
    return {
        "report": report,
        "failed": report.failed_checks,
        "passed": _format.passed_checks(report),
        "parts": _format.parts(report),
        "measured": _format.measured(report),
        "unmeasured": _format.unmeasured(report),
        "debrief": _format.debrief(report),
        "not_attempted": _format.not_attempted(report),
    }


def render(
    env: jinja2.Environment,
    name: str,
    report: Report,
    sections: tuple[str, ...] = (),
    **extra: Any,
) -> str:
    """Renders template ``name`` with the report context, ``sections`` and ``extra``."""
    return env.get_template(name).render(**context(report), sections=sections, **extra)
