"""Scenarios for the worker-pool checks: how they are generated, played and judged.

A scenario is JSON data the driver plays in the candidate's process (see
``dskata.drivers.worker_pool``); ``pool_judge`` judges the trace that comes back.
Actions sit at distinct fractions of a second (the k-th at ``… + 0.01·k``) and jobs
last whole seconds, so a job never ends in the same instant as a director action:
each instant has one cause, and a verdict never depends on which of two unrelated
wake-ups a scheduler ran first.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from pool_judge import ALL_TAGS, CRASH, PART1_TAGS, Judge, describe_job, tell

from dskata.grading import Candidate, Story

HORIZON_S = 10_000.0  # virtual seconds after which a block that has not ended never will
DURATIONS = (0, 1, 1, 2, 3, 5)
GAPS = (0, 0, 0, 1, 2, 4)
# Part 2 keeps the pool busier (longer jobs, fewer workers), so cancellations and
# closes find jobs queued and submitters waiting.
LONG_DURATIONS = (1, 2, 3, 5, 8)
ENDS_PART1 = ("value",) * 6 + ("error",)
ENDS_FAILING = ("value", "value", "error", "error_now", "not_async", "group")

Scenario = dict[str, Any]


def _job(
    draw: st.DrawFn, ends: tuple[str, ...], durations: tuple[int, ...] = DURATIONS
) -> dict[str, Any]:
    return {"d": draw(st.sampled_from(durations)), "end": draw(st.sampled_from(ends))}


@st.composite
def part1_scenarios(draw: st.DrawFn, ends: tuple[str, ...] = ENDS_PART1) -> Scenario:
    """Jobs submitted with submit or submit_nowait, then a normal exit once every
    submit has answered."""
    n = draw(st.integers(1, 8))
    jobs = [_job(draw, ends) for _ in range(n)]
    actions = []
    t = 0.0
    for i in range(n):
        t += draw(st.sampled_from(GAPS))
        method = draw(st.sampled_from(("submit", "submit", "nowait")))
        actions.append({"t": round(t + 0.01 * (i + 1), 2), "do": method, "job": i})
    return {
        "workers": draw(st.integers(1, 3)),
        "queue_size": draw(st.integers(0, 3)),
        "jobs": jobs,
        "actions": actions,
        "wait_for_submitters": True,
        "horizon": HORIZON_S,
    }


PART2_KINDS = (
    "submit",
    "submit",
    "submit",
    "nowait",
    "cancel",
    "cancel",
    "close",
    "close_cancel",
    "raise",
)


@st.composite
def part2_scenarios(draw: st.DrawFn) -> Scenario:
    """Submits mixed with Job.cancel(), close(), close(cancel=True), raising in the
    block, and maybe a cancellation of the enclosing scope at any moment — also
    while a normal exit waits for the jobs."""
    burst = draw(st.integers(0, 5))  # submitted at once first: queued jobs, waiting submitters
    steps = burst + draw(st.integers(1, 10))
    jobs: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    t = 0.0
    for k in range(steps):
        t += 0 if k < burst else draw(st.sampled_from(GAPS))
        at = round(t + 0.01 * (k + 1), 2)
        kind = "submit" if k < burst else draw(st.sampled_from(PART2_KINDS))
        if kind in ("submit", "nowait") or not jobs:
            jobs.append(_job(draw, ENDS_PART1, LONG_DURATIONS))
            actions.append(
                {"t": at, "do": kind if kind == "nowait" else "submit", "job": len(jobs) - 1}
            )
        elif kind == "cancel":
            # Mostly one of the latest jobs: those are the ones still queued.
            back = draw(st.integers(0, min(2, len(jobs) - 1)))
            actions.append({"t": at, "do": "cancel", "job": len(jobs) - 1 - back})
        elif kind in ("close", "close_cancel"):
            actions.append({"t": at, "do": "close", "cancel": kind == "close_cancel"})
        else:
            actions.append({"t": at, "do": "raise"})
            break
    outer = None
    if draw(st.booleans()):
        outer = round(t + draw(st.sampled_from((0, 1, 2, 3, 6))) + 0.01 * (len(actions) + 1), 2)
    return {
        "workers": draw(st.integers(1, 2)),
        "queue_size": draw(st.integers(0, 3)),
        "jobs": jobs,
        "actions": actions,
        "outer_cancel_at": outer,
        "horizon": HORIZON_S,
    }


def play(
    candidate: Candidate, scenario: Scenario, *, backend: str = "asyncio", seed: int = 0
) -> dict[str, Any]:
    return dict(
        candidate.call("scenario", scenario=scenario, backend=backend, seed=seed, timeout_s=20)
    )


def judged(
    candidate: Candidate,
    story: Story,
    scenario: Scenario,
    tags: frozenset[str],
    *,
    backend: str = "asyncio",
    seed: int = 0,
) -> Judge:
    """Plays the scenario, tells it, and fails with the first broken rule among ``tags``."""
    story.begin()
    trace = play(candidate, scenario, backend=backend, seed=seed)
    events = trace.get("events", [])
    if not isinstance(events, list):
        raise AssertionError("the driver returned no trace")
    if backend != "asyncio":
        story.say(f"backend: {backend} (scheduling seed {seed})")
    for line in tell(scenario, events):
        story.say(line)
    if "never_quiet" in trace:
        story.say("↳ wrong: the pool never became quiet: some task kept running without waiting")
        raise AssertionError(
            "the pool never became quiet: a task kept running without ever waiting (a busy loop)"
        )
    judge = Judge(scenario, events)
    broken = judge.of(tags | {CRASH})
    if broken:
        first = broken[0]
        story.say(f"↳ wrong at t={first.time:g}: {first.text}")
        raise AssertionError(f"t={first.time:g}: {first.text}")
    return judge


def without_failures(scenario: Scenario) -> Scenario:
    """The same scenario with every job returning a value: the twin a failing job is
    compared with."""
    jobs = [
        {"d": j["d"] if j["end"] in ("value", "error", "group") else 0, "end": "value"}
        for j in scenario["jobs"]
    ]
    return {**scenario, "jobs": jobs}


def errors_stay_in_their_job(
    candidate: Candidate, story: Story, scenario: Scenario, backend: str = "asyncio", seed: int = 0
) -> None:
    """Rule 4 by comparison: whatever rule the pool keeps when every job succeeds, it
    keeps when some fail — and each failure reaches its Job as the very same object."""
    judge = judged(candidate, story, scenario, frozenset({"errors"}), backend=backend, seed=seed)
    broken = judge.of(PART1_TAGS)
    if not broken:
        return
    twin = Judge(
        without_failures(scenario),
        play(candidate, without_failures(scenario), backend=backend, seed=seed)["events"],
    )
    if twin.of(PART1_TAGS):
        return  # the pool breaks that rule without any failing job: another check's business
    failing = [describe_job(i, j) for i, j in enumerate(scenario["jobs"]) if j["end"] != "value"]
    first = broken[0]
    story.say(f"↳ wrong at t={first.time:g}: {first.text}")
    story.say(
        f"↳ with every job succeeding instead, no rule breaks: the failure of {', '.join(failing)} did this"
    )
    raise AssertionError(
        f"t={first.time:g}: {first.text} — only because {', '.join(failing)} failed"
    )


__all__ = [
    "ALL_TAGS",
    "ENDS_FAILING",
    "PART1_TAGS",
    "errors_stay_in_their_job",
    "judged",
    "part1_scenarios",
    "part2_scenarios",
    "play",
]
