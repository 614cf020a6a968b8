"""The reports' charts, drawn with matplotlib and inlined as SVG.

Why matplotlib: it is the best-kept Python plotting library, draws every chart the
reports need (bars, stacked bars, lanes over time) from one API, and its SVG
backend writes a plain document with no script and no external reference. pygal's
SVGs pull in scripts by default and altair needs a JavaScript runtime (or the
vl-convert binary) to make an SVG at all.

Determinism, so that the same report gives the same bytes: the object-oriented
``Figure`` API (no pyplot global state), a fixed ``svg.hashsalt`` (matplotlib
otherwise salts its clip-path ids with a random uuid), no date or creator
metadata, text kept as ``<text>`` (``svg.fonttype: none``, also searchable and
small) laid out with the DejaVu Sans metrics matplotlib ships. The XML prolog and
DOCTYPE are dropped because the SVG is inlined into HTML, where they are invalid.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from dskata.report import _format
from dskata.results import DimensionScore, Timeline

INK, MUTED, LINE = "#1f2328", "#59636e", "#d1d9e0"
EARNED, AVAILABLE = "#0969da", "#dbe7f5"
BAD, OK, WARN = "#cf222e", "#1a7f37", "#9a6700"
# Okabe-Ito: tells dimensions apart for colour-blind readers too, and in greyscale print.
DIMENSION_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999")


@dataclass(frozen=True)
class SpanStyle:
    color: str
    label: str
    hatch: str | None = None
    edge: str | None = None

    @property
    def edgecolor(self) -> str:
        return self.edge or self.color


@dataclass(frozen=True)
class MarkStyle:
    marker: str
    color: str
    label: str


SPAN_STYLE: dict[str, SpanStyle] = {
    "running": SpanStyle(EARNED, "running"),
    "queued": SpanStyle("#f2c94c", "accepted, queued"),
    "waiting": SpanStyle("#eaeef2", "caller waiting", hatch="///", edge=MUTED),
    "holding": SpanStyle("#8250df", "holding"),
    "other": SpanStyle("#afb8c1", "other"),
}
MARK_STYLE: dict[str, MarkStyle] = {
    "ok": MarkStyle("o", OK, "returned / done"),
    "error": MarkStyle("X", BAD, "raised / refused"),
    "fault": MarkStyle("D", WARN, "cancel / fault"),
    "event": MarkStyle("v", MUTED, "event"),
}
_RC: dict[str, Any] = {
    "svg.hashsalt": "dskata",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": LINE,
    "axes.labelcolor": INK,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_LOCK = threading.RLock()
_PROLOG = re.compile(r"\A.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


@contextmanager
def _style(salt: str) -> Iterator[None]:
    # A salt per chart: two charts inlined in one page then never share a clip id.
    # rcParams are global: batch gradings render on several threads, one chart at a time.
    with _LOCK, matplotlib.rc_context(_RC):  # type: ignore[arg-type]  # keys typed as literals
        matplotlib.rcParams["svg.hashsalt"] = f"dskata-{salt}"  # restored on leaving
        yield


def _svg(fig: Figure, title: str) -> str:
    buf = io.StringIO()
    fig.savefig(
        buf,
        format="svg",
        bbox_inches="tight",
        metadata={"Date": None, "Creator": None, "Title": title},
    )
    text = _METADATA.sub("", _PROLOG.sub("", buf.getvalue()), count=1)
    # An accessible name for the inlined image (CSS shrinks it to the page width).
    return text.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def dimension_chart(dimensions: dict[str, DimensionScore], *, salt: str = "dims") -> str:
    """Horizontal bars of points earned (dark) over points available (light), per dimension.

    Dimensions with nothing to earn say "not measured", so the chart shows what the
    kit did not look at as plainly as what it did.
    """
    names = list(dimensions)
    top = max((d.max_score for d in dimensions.values()), default=0.0) or 1.0
    with _style(salt):
        fig = Figure(figsize=(6.4, 0.36 * len(names) + 0.6))
        ax = fig.add_subplot()
        ys = range(len(names))
        for y, name in zip(ys, names, strict=True):
            dim = dimensions[name]
            if dim.max_score <= 0:
                ax.text(0, y, "not measured", va="center", color=MUTED, fontstyle="italic")
                continue
            ax.barh(y, dim.max_score, color=AVAILABLE, height=0.62)
            ax.barh(y, dim.score, color=EARNED, height=0.62)
            ax.text(
                dim.max_score + top * 0.015,
                y,
                f"{_format.num(dim.score)} / {_format.num(dim.max_score)}",
                va="center",
                color=INK,
            )
        ax.set_yticks(list(ys), names)
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.18)
        ax.set_xlabel("points")
        ax.tick_params(axis="y", length=0)
        return _svg(fig, "Points earned of points available, by dimension")


def compare_chart(
    rows: Sequence[tuple[str, float, dict[str, DimensionScore]]], *, salt: str = "compare"
) -> str:
    """One stacked bar per candidate: each dimension's share of the 0–100 score.

    ``rows`` are (label, score, dimensions), drawn top to bottom in the order given.
    A segment is ``100 × earned / total available``, so a bar's length is the score.
    """
    names = [n for n in _dimension_names(rows) if any(r[2][n].max_score > 0 for r in rows)]
    with _style(salt):
        fig = Figure(figsize=(7.2, 0.34 * len(rows) + 1.1))
        ax = fig.add_subplot()
        for y, (_label, score, dims) in enumerate(rows):
            total = sum(d.max_score for d in dims.values()) or 1.0
            left = 0.0
            for k, name in enumerate(names):
                share = 100.0 * dims[name].score / total if name in dims else 0.0
                colour = DIMENSION_COLOURS[k % len(DIMENSION_COLOURS)]
                ax.barh(
                    y, share, left=left, color=colour, height=0.66, label=name if y == 0 else None
                )
                left += share
            ax.text(max(left, 0) + 1.2, y, _format.num(score), va="center", color=INK)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, 110)
        ax.set_xlabel("score (0–100), by the dimension that earned it")
        ax.tick_params(axis="y", length=0)
        fig.legend(
            handles=[
                Patch(color=DIMENSION_COLOURS[k % len(DIMENSION_COLOURS)], label=n)
                for k, n in enumerate(names)
            ],
            loc="lower center",
            ncols=min(len(names), 4) or 1,
            frameon=False,
            bbox_to_anchor=(0.5, 1.0),
        )
        return _svg(fig, "Score of each candidate, split by dimension")


def _dimension_names(rows: Sequence[tuple[str, float, dict[str, DimensionScore]]]) -> list[str]:
    seen: dict[str, None] = {}
    for _label, _score, dims in rows:
        seen.update(dict.fromkeys(dims))
    return list(seen)


def timeline_chart(timeline: Timeline, *, salt: str = "timeline") -> str:
    """Lanes over time: spans for what lasted, marks for instants, a red line where a
    rule broke. Marks that concern no lane go on a top lane of their own."""
    has_global = any(m.lane is None and m.kind != "wrong" for m in timeline.marks)
    lanes = (["(the block)"] if has_global else []) + list(timeline.lanes)
    shift = 1 if has_global else 0
    times = [s.start for s in timeline.spans] + [s.end for s in timeline.spans]
    times += [m.t for m in timeline.marks]
    t_max = max(times, default=1.0) or 1.0
    with _style(salt):
        fig = Figure(figsize=(7.2, 0.34 * len(lanes) + 1.3))
        ax = fig.add_subplot()
        kinds: list[str] = []
        for span in timeline.spans:
            style = SPAN_STYLE.get(span.kind, SPAN_STYLE["other"])
            ax.barh(
                span.lane + shift,
                span.end - span.start,
                left=span.start,
                height=0.5,
                color=style.color,
                hatch=style.hatch,
                edgecolor=style.edgecolor,
                linewidth=0.6,
            )
            kinds.append(span.kind)
        marked: list[str] = []
        for mark in timeline.marks:
            if mark.kind == "wrong" or mark.lane is None:
                continue
            how = MARK_STYLE.get(mark.kind, MARK_STYLE["event"])
            ax.plot(
                mark.t,
                mark.lane + shift,
                linestyle="none",
                marker=how.marker,
                color=how.color,
                markersize=6,
            )
            marked.append(mark.kind)
            if mark.kind in ("error", "fault"):
                ax.annotate(
                    mark.label,
                    (mark.t, mark.lane + shift),
                    xytext=(5, 4),
                    textcoords="offset points",
                    fontsize=7.5,
                    color=how.color,
                )
        if has_global:
            _global_lane(ax, timeline, t_max)
        for mark in timeline.marks:
            if mark.kind == "wrong":
                ax.axvline(mark.t, color=BAD, linewidth=1.6)
                ax.annotate(
                    f"✗ {mark.label} (t={mark.t:g})",
                    (mark.t, -0.5),
                    xytext=(3, 2),
                    textcoords="offset points",
                    color=BAD,
                    fontweight="bold",
                    annotation_clip=False,
                    va="bottom",
                )
        ax.set_yticks(range(len(lanes)), lanes)
        ax.set_ylim(len(lanes) - 0.5, -0.5)
        ax.set_xlim(0, t_max * 1.04)
        ax.set_xlabel("virtual time (s)" if timeline.unit == "s" else timeline.unit)
        ax.grid(axis="x", color=LINE, linewidth=0.5)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        fig.legend(
            handles=_legend(kinds, marked, timeline),
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncols=4,
            frameon=False,
            fontsize=8,
        )
        return _svg(fig, timeline.title or "Timeline of the counterexample")


def _global_lane(ax: object, timeline: Timeline, t_max: float) -> None:
    """Marks with no lane, on lane 0: one label per instant, staggered when crowded."""
    by_time: dict[float, list[str]] = {}
    for mark in timeline.marks:
        if mark.lane is None and mark.kind != "wrong":
            by_time.setdefault(mark.t, []).append(mark.label)
    last_x = None
    up = True
    for t in sorted(by_time):
        ax.plot(t, 0, linestyle="none", marker="v", color=MUTED, markersize=6)  # type: ignore[attr-defined]
        crowded = last_x is not None and (t - last_x) < t_max * 0.18
        up = (not up) if crowded else True
        ax.annotate(  # type: ignore[attr-defined]
            " · ".join(by_time[t]),
            (t, 0),
            xytext=(4, 5 if up else -11),
            textcoords="offset points",
            fontsize=7.5,
            color=MUTED,
        )
        last_x = t


def _legend(spans: list[str], marks: list[str], timeline: Timeline) -> list[object]:
    handles: list[object] = []
    for kind in dict.fromkeys(spans):
        style = SPAN_STYLE.get(kind, SPAN_STYLE["other"])
        handles.append(
            Patch(
                facecolor=style.color,
                hatch=style.hatch,
                edgecolor=style.edgecolor,
                label=style.label,
            )
        )
    for kind in dict.fromkeys(marks):
        how = MARK_STYLE[kind]
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=how.marker,
                color=how.color,
                label=how.label,
            )
        )
    if any(m.kind == "wrong" for m in timeline.marks):
        handles.append(Line2D([], [], color=BAD, linewidth=1.6, label="rule broken"))
    return handles
