"""Draws a worker-pool trace as a timeline: one lane per job, spans for waiting, queued
and running, marks for refusals, cancellations, closes and the broken rule.

The story tells the trace line by line; the timeline shows the same events at once,
which is what makes an ordering bug (a later job started first, a queued job started
after close) visible at a glance. It reads the driver's events exactly as ``tell``
does and judges nothing.
"""

from __future__ import annotations

from typing import Any

from pool_judge import Violation

from dskata.grading import Mark, Span, Timeline

_BLOCK_WORDS = {
    "close": lambda d: "close(cancel=True)" if d else "close()",
    "raise": lambda d: "block raises",
    "leave": lambda d: "body ends",
    "exit": lambda d: f"block ended: {d}",
}


def draw(scenario: dict[str, Any], events: list[list[Any]], wrong: Violation | None) -> Timeline:
    """Returns the timeline of one played scenario; ``wrong`` marks the first broken rule."""
    horizon = float(scenario.get("horizon", float("inf")))
    played = _until_exit(events, horizon)
    last = max((float(e[0]) for e in played), default=0.0)
    jobs = sorted({int(i) for _, kind, i, _ in played if kind in _JOB_KINDS})
    lane = {job: n for n, job in enumerate(jobs)}
    spans: list[Span] = []
    marks: list[Mark] = []
    open_at: dict[int, tuple[str, float]] = {}  # job → (what it is doing, since when)

    def close_span(job: int, t: float) -> None:
        if job in open_at:
            kind, since = open_at.pop(job)
            if t > since:
                spans.append(Span(lane[job], since, t, kind, kind))

    for t, kind, i, detail in played:
        t = float(t)
        if kind in _JOB_KINDS:
            job = int(i)
            if kind == "call":
                open_at[job] = ("waiting", t)
            elif kind == "accepted" and open_at.get(job, ("", t))[0] == "waiting":
                # A job may start before its submit returns: then it is running already.
                close_span(job, t)
                open_at[job] = ("queued", t)
            elif kind == "refused":
                close_span(job, t)
                marks.append(Mark(t, str(detail), "error", lane[job]))
            elif kind == "submit_cancelled":
                # The caller gave up waiting: the job never entered the pool.
                close_span(job, t)
                marks.append(Mark(t, "caller cancelled", "fault", lane[job]))
            elif kind == "start":
                close_span(job, t)
                open_at[job] = ("running", t)
            elif kind == "end":
                close_span(job, t)
                how = str(detail)
                mark_kind = "ok" if how.startswith("returned") else "error"
                marks.append(Mark(t, how, mark_kind, lane[job]))
            elif kind == "cancel":
                if job in open_at and open_at[job][0] == "queued":
                    close_span(job, t)
                marks.append(Mark(t, "Job.cancel()", "fault", lane[job]))
        elif kind == "cancel_caller":
            # i is a job for submit/result callers but a closer's number for close().
            of = str(detail).split("|")[0]
            on = lane.get(int(i)) if of in ("submit", "result") else None
            marks.append(Mark(t, f"{of}() caller cancelled", "fault", on))
        elif kind in _BLOCK_WORDS:
            marks.append(Mark(t, _BLOCK_WORDS[kind](detail), "event"))
    outer = scenario.get("outer_cancel_at")
    if outer is not None and float(outer) <= last:
        marks.append(Mark(float(outer), "scope cancelled", "fault"))
    for job in list(open_at):
        close_span(job, last)  # still waiting, queued or running when the trace ended
    if wrong is not None:
        marks.append(Mark(float(wrong.time), "rule broken", "wrong"))
    return Timeline(
        lanes=[f"job {job}" for job in jobs],
        spans=spans,
        marks=marks,
        unit="s",
        title=(
            f"WorkerPool(workers={scenario['workers']}, queue_size={scenario['queue_size']}), "
            "virtual time"
        ),
    )


_JOB_KINDS = frozenset({"call", "accepted", "refused", "submit_cancelled", "start", "end", "cancel"})


def _until_exit(events: list[list[Any]], horizon: float) -> list[list[Any]]:
    """The events up to and including the block's exit, before the driver's horizon."""
    played: list[list[Any]] = []
    for event in events:
        if float(event[0]) >= horizon:
            break
        played.append(event)
        if event[1] == "exit":
            break
    return played
