"""Scenarios for the dedup-consumer checks: how they are generated, played and judged.

A scenario is JSON data the driver plays in the candidate's process (see
``dskata.drivers.dedup_consumer``); ``dedup_judge`` judges the trace that comes back.
Publish and crash times sit on a grid of 0.05 s (the driver's operation latency), so
a crash lands between two operations of the consumer, never inside a tie.
"""

from __future__ import annotations

from typing import Any

from dedup_judge import Judge, Scenario, tell
from hypothesis import strategies as st

from dskata.grading import Candidate, Story

Spec = dict[str, Any]
WINDOW_S = 60.0
GRID = 0.05


def spec(
    n: int,
    publish: list[tuple[float, int]],
    *,
    failures: dict[str, int] | None = None,
    conflicts: dict[str, int] | None = None,
    crashes: list[float] | None = None,
    stop_at: float | None = None,
    max_attempts: int = 3,
    concurrency: int = 1,
    handler_s: float = 1.0,
) -> Spec:
    return {
        "messages": [{"id": f"m{i}", "body": {"n": i}} for i in range(n)],
        "publish": [[round(t, 2), i] for t, i in publish],
        "failures": failures or {},
        "conflicts": conflicts or {},
        "crashes": crashes or [],
        "stop_at": stop_at,
        "max_attempts": max_attempts,
        "concurrency": concurrency,
        "dedup_window": WINDOW_S,
        "handler_s": handler_s,
    }


def once_each(n: int, *dups: tuple[float, int], **kw: Any) -> Spec:
    """``n`` messages published at t=0 in order, plus the given duplicates."""
    return spec(n, [(0.0, i) for i in range(n)] + list(dups), **kw)


def _grid(draw: st.DrawFn, hi: float) -> float:
    return round(draw(st.integers(0, int(hi / GRID))) * GRID, 2)


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    failing: bool = False,
    crashing: bool = True,
    stopping: bool = False,
    max_concurrency: int = 1,
) -> Spec:
    """Messages with duplicates and reorderings; maybe crashes, handler failures,
    Conflicts, a stop."""
    n = draw(st.integers(1, 5))
    publish = [(_grid(draw, 3.0), i) for i in range(n)]
    for _ in range(draw(st.integers(0, 4))):  # duplicates, all well within dedup_window
        publish.append((_grid(draw, 12.0), draw(st.integers(0, n - 1))))
    max_attempts = draw(st.integers(1, 4)) if failing else 3
    failures: dict[str, int] = {}
    conflicts: dict[str, int] = {}
    if failing:
        for i in range(n):
            kind = draw(st.sampled_from(("ok", "ok", "fails", "poison", "conflict")))
            if kind == "fails" and max_attempts > 1:
                failures[f"m{i}"] = draw(st.integers(1, max_attempts - 1))
            elif kind == "poison":
                failures[f"m{i}"] = -1
            elif kind == "conflict":
                conflicts[f"m{i}"] = draw(st.integers(1, 2))
    crashes = sorted({_grid(draw, 8.0) for _ in range(draw(st.integers(0, 2)))}) if crashing else []
    stop_at = _grid(draw, 6.0) + GRID / 2 if stopping else None
    return spec(
        n,
        publish,
        failures=failures,
        conflicts=conflicts,
        crashes=crashes,
        stop_at=stop_at,
        max_attempts=max_attempts,
        concurrency=draw(st.integers(1, max_concurrency)),
        handler_s=draw(st.sampled_from((0.5, 1.0))),
    )


def describe(s: Spec) -> list[str]:
    """The scenario in words."""
    lines = [
        f"DedupConsumer(max_attempts={s['max_attempts']}, concurrency={s['concurrency']}, "
        f"dedup_window={s['dedup_window']:g}); the handler takes {s['handler_s']:g} s and "
        "stages one write per message; every broker/store call takes 0.05 s"
    ]
    ids = [m["id"] for m in s["messages"]]
    pubs = ", ".join(f"{ids[i]}@{t:g}" for t, i in sorted(s["publish"]))
    lines.append(f"published (duplicates included): {pubs}")
    for ident, n in sorted(s.get("failures", {}).items()):
        lines.append(
            f"the handler raises PoisonMessage for {ident} "
            + ("on every call" if n < 0 else f"on attempts 1–{n} of each delivery chain")
        )
    for ident, n in sorted(s.get("conflicts", {}).items()):
        lines.append(
            f"another writer changes a key {ident}'s handler read, during its first {n} call(s)"
        )
    if s.get("crashes"):
        lines.append(
            "the consumer dies at t=" + ", ".join(f"{t:g}" for t in s["crashes"])
            + " (a fresh one starts at once on the same broker and store)"
        )  # fmt: skip
    if s.get("stop_at") is not None:
        lines.append(f"stop is set at t={s['stop_at']:g}")
    return lines


def play(candidate: Candidate, s: Spec) -> dict[str, Any]:
    result = candidate.call("scenario", scenario=s, timeout_s=30)
    if not isinstance(result, dict) or not isinstance(result.get("events"), list):
        raise AssertionError("the driver returned no trace")
    return result


def judge_result(story: Story, s: Spec, result: dict[str, Any], tags: frozenset[str]) -> Judge:
    """Tells the trace and fails with the first broken rule among ``tags``."""
    for line in describe(s):
        story.say(line)
    for line in tell(result["events"]):
        story.say(line)
    effects = result.get("effects", {})
    story.say(
        "effects committed per message: "
        + (", ".join(f"{k}×{v}" for k, v in sorted(effects.items())) or "none")
    )
    if result.get("raised"):
        story.say(f"↳ wrong: run() raised {result['raised']}")
        raise AssertionError(f"run() raised {result['raised']}")
    judge = Judge(Scenario.of(s), result["events"], effects)
    broken = judge.of(tags)
    if broken:
        first = broken[0]
        story.say(f"↳ wrong at t={first.time:g}: {first.text}")
        raise AssertionError(f"t={first.time:g}: {first.text}")
    return judge


def judged(candidate: Candidate, story: Story, s: Spec, tags: frozenset[str]) -> Judge:
    story.begin()
    return judge_result(story, s, play(candidate, s), tags)


def last_commit(result: dict[str, Any], ids: set[str]) -> float:
    """When the last of ``ids`` had its effects committed (infinity: some never did)."""
    when: dict[str, float] = {}
    for e in result["events"]:
        if e["k"] == "commit":
            for ident in e["effects"]:
                when.setdefault(ident, float(e["t"]))
    return max((when.get(i, float("inf")) for i in ids), default=0.0)
