"""The Jinja environment and page context that report.md and report.html share.

Both pages are the same report told in two markups: same filters, same context. Only
escaping differs (HTML escapes; Markdown must not, or "&amp;" lands in the page), and
Markdown adds its own filters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2

from dskata.report import _format
from dskata.results import Report


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
        points=_format.points,
        **filters,
    )
    return env


def render(env: jinja2.Environment, name: str, report: Report) -> str:
    """Renders template ``name`` with the context every report page uses."""
    return env.get_template(name).render(
        report=report,
        failed=report.failed_checks,
        passed=_format.passed_checks(report),
        parts=_format.parts(report),
    )
