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
from pool_judge import ALL_TAGS, CRASH, ERRORS, PART1_TAGS, Judge, describe_job, tell
from pool_timeline import draw

from dskata.grading import Candidate, Story

HORIZON_S = 10_000.0  # virtual seconds after which a block that has not ended never will
DURATIONS = (0, 1, 1, 2, 3, 5)
GAPS = (0, 0, 0, 1, 2, 4)
# Part 2 keeps the pool busier (longer jobs, fewer workers), so cancellations and
# closes find jobs queued and submitters waiting.
LONG_DURATIONS = (1, 2, 3, 5, 8)
# "none" returns None: a pool must not take None for "no result yet".
ENDS_PART1 = ("value",) * 5 + ("none", "error")
ENDS_FAILING = ("value", "value", "none", "error", "error_now", "not_async", "group")
# A job that raises a cancellation of its own making (asyncio.CancelledError; trio's
# Cancelled cannot be made by hand): it ends with JobCancelled and its worker goes on.
ENDS_FAILING_ASYNCIO = (*ENDS_FAILING, "self_cancel")

Scenario = dict[str, Any]


def scenario(
    workers: int,
    queue_size: int,
    jobs: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    *,
    outer_cancel_at: float | None = None,
    wait_for_submitters: bool = False,
) -> Scenario:
    """A scenario as the driver plays it. ``wait_for_submitters``: the body waits until
    every submit has answered before it leaves the block (nobody waits for room at exit)."""
    return {
        "workers": workers,
        "queue_size": queue_size,
        "jobs": jobs,
        "actions": actions,
        "outer_cancel_at": outer_cancel_at,
        "wait_for_submitters": wait_for_submitters,
        "horizon": HORIZON_S,
    }


def returning(*durations: float) -> list[dict[str, Any]]:
    """Jobs that sleep the given seconds, then return their value."""
    return [{"d": d, "end": "value"} for d in durations]


def _job(
    draw: st.DrawFn, ends: tuple[str, ...], durations: tuple[int, ...] = DURATIONS
) -> dict[str, Any]:
    return {"d": draw(st.sampled_from(durations)), "end": draw(st.sampled_from(ends))}


class _Clock:
    """Action times: whole-second gaps, each new time at a fraction of its own (the k-th
    at ``… + 0.01·k``), or the very same time as the action before — jobs started
    together end together, so two places free up in one instant."""

    def __init__(self) -> None:
        self.t = 0.0
        self.k = 0
        self.last: float | None = None

    def next(self, draw: st.DrawFn, *, gap: int | None = None) -> float:
        if self.last is not None and gap is None and draw(st.integers(0, 3)) == 0:
            return self.last
        self.t += draw(st.sampled_from(GAPS)) if gap is None else gap
        self.k += 1
        self.last = round(self.t + 0.01 * self.k, 2)
        return self.last


def _waits(draw: st.DrawFn, clock: _Clock, job: int, first: int) -> list[dict[str, Any]]:
    """None, one or two tasks that start waiting in result() of one of the latest jobs
    (still running or queued, mostly), numbered from ``first``."""
    return [
        {"t": clock.next(draw, gap=0), "do": "wait", "job": job, "waiter": first + k}
        for k in range(draw(st.sampled_from((0, 0, 0, 1, 2))))
    ]


@st.composite
def part1_scenarios(draw: st.DrawFn, ends: tuple[str, ...] = ENDS_PART1) -> Scenario:
    """Jobs submitted with submit or submit_nowait, tasks waiting in result() beside
    them, then a normal exit once every submit has answered."""
    n = draw(st.integers(1, 8))
    jobs = [_job(draw, ends) for _ in range(n)]
    if draw(st.booleans()):  # one duration for all: jobs started together end together
        jobs = [{**job, "d": jobs[0]["d"]} for job in jobs]
    actions: list[dict[str, Any]] = []
    clock = _Clock()
    waiters = 0
    for i in range(n):
        at = clock.next(draw)
        method = draw(st.sampled_from(("submit", "submit", "nowait")))
        actions.append({"t": at, "do": method, "job": i})
        waits = _waits(draw, clock, i - draw(st.integers(0, min(2, i))), waiters + 1)
        actions += waits
        waiters += len(waits)
    return scenario(
        draw(st.integers(1, 3)), draw(st.integers(0, 3)), jobs, actions, wait_for_submitters=True
    )


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
    "wait",
    "wait",
    "cancel_caller",
)


class _Callers:
    """The calls of a part-2 scenario whose task the director may cancel while it waits:
    submit() calls by job, result() waiters and close() calls by number."""

    def __init__(self) -> None:
        self.submits: list[int] = []
        self.waiters = 0
        self.closers = 0

    def wait(self, t: float, job: int) -> dict[str, Any]:
        self.waiters += 1
        return {"t": t, "do": "wait", "job": job, "waiter": self.waiters}

    def cancel(self, draw: st.DrawFn, t: float, of: str | None = None) -> dict[str, Any] | None:
        """Cancels the task in one of the latest calls of kind ``of`` (any kind if None);
        the latest are the likeliest to be still waiting."""

        def recent(last: int, first: int = 1) -> int:
            return last - draw(st.integers(0, min(2, last - first)))

        have = {"submit": bool(self.submits), "result": self.waiters > 0, "close": self.closers > 0}
        kinds = [k for k, yes in have.items() if yes and of in (None, k)]
        if not kinds:
            return None
        of = draw(st.sampled_from(kinds))
        if of == "submit":
            job = self.submits[recent(len(self.submits) - 1, 0)]
            return {"t": t, "do": "cancel_caller", "of": "submit", "job": job}
        if of == "result":
            return {"t": t, "do": "cancel_caller", "of": "result", "waiter": recent(self.waiters)}
        return {"t": t, "do": "cancel_caller", "of": "close", "closer": recent(self.closers)}


@st.composite
def part2_scenarios(draw: st.DrawFn) -> Scenario:
    """Submits mixed with Job.cancel(), close(), close(cancel=True), tasks waiting in
    result(), cancellations of tasks waiting in submit(), result() or close() (often
    right after the call), raising in the block, and maybe a cancellation of the
    enclosing scope at any moment — also while a normal exit waits for the jobs."""
    workers, queue_size = draw(st.integers(1, 2)), draw(st.integers(0, 3))
    burst = draw(st.integers(0, 5))  # submitted at once first: queued jobs, waiting submitters
    steps = burst + draw(st.integers(1, 10))
    jobs: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    clock = _Clock()
    callers = _Callers()
    for k in range(steps):
        if k == burst and jobs:
            # Tasks waiting in result() of the jobs running or queued now, and maybe the
            # cancellation of a burst submitter that still waits for room (every job lasts
            # a second or more, so no room has come back yet).
            for _ in range(draw(st.integers(0, 2))):
                job = draw(st.integers(0, len(jobs) - 1))
                actions.append(callers.wait(clock.next(draw, gap=0), job))
            if burst > workers + queue_size and draw(st.booleans()):
                job = draw(st.integers(workers + queue_size, burst - 1))
                at = clock.next(draw, gap=0)
                actions.append({"t": at, "do": "cancel_caller", "of": "submit", "job": job})
        at = clock.next(draw, gap=0 if k < burst else None)
        kind = "submit" if k < burst else draw(st.sampled_from(PART2_KINDS))
        if kind == "cancel_caller":
            cancel = callers.cancel(draw, at)
            if cancel is not None:
                actions.append(cancel)
                continue
            kind = "submit"
        if kind == "wait" and jobs:
            if draw(st.booleans()):  # one of the latest jobs, or any
                job = len(jobs) - 1 - draw(st.integers(0, min(2, len(jobs) - 1)))
            else:
                job = draw(st.integers(0, len(jobs) - 1))
            actions.append(callers.wait(at, job))
        elif kind in ("submit", "nowait", "wait") or not jobs:
            jobs.append(_job(draw, ENDS_PART1, LONG_DURATIONS))
            if kind != "nowait":
                callers.submits.append(len(jobs) - 1)
            actions.append(
                {"t": at, "do": kind if kind == "nowait" else "submit", "job": len(jobs) - 1}
            )
        elif kind == "cancel":
            # Often one of the latest jobs (those are still queued), else any.
            if draw(st.booleans()):
                job = len(jobs) - 1 - draw(st.integers(0, min(2, len(jobs) - 1)))
            else:
                job = draw(st.integers(0, len(jobs) - 1))
            actions.append({"t": at, "do": "cancel", "job": job})
        elif kind in ("close", "close_cancel"):
            callers.closers += 1
            actions.append({"t": at, "do": "close", "cancel": kind == "close_cancel"})
        else:
            actions.append({"t": at, "do": "raise"})
            break
        # (close(cancel=True) waits only while cancelled jobs unwind: rarely worth it.)
        last = {"submit": "submit", "wait": "result", "close": "close"}.get(actions[-1]["do"])
        if last == "close" and actions[-1]["cancel"]:
            last = None
        if (
            k >= burst
            and last is not None
            and draw(st.integers(0, 2 if last != "close" else 1)) == 0
        ):
            # The caller just made gives up soon, often within the same second (before any
            # job can end, so while it still waits), else after the usual gap.
            gap = draw(st.sampled_from((0, None)))
            cancel = callers.cancel(draw, clock.next(draw, gap=gap), last)
            if cancel is not None:
                actions.append(cancel)
    outer = None
    if draw(st.booleans()):
        # Any moment: while the body still acts, or while a normal exit waits. Its
        # fraction is one no action has, so it never meets a job's end either.
        base = draw(st.sampled_from([0.0] + [a["t"] for a in actions]))
        late = draw(st.sampled_from((0, 1, 2, 3, 6)))
        outer = round(int(base) + late + 0.01 * (clock.k + 1), 2)
    return scenario(workers, queue_size, jobs, actions, outer_cancel_at=outer)


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
    also_after: str | None = None,
) -> Judge:
    """Plays the scenario, tells it, and fails with the first broken rule among ``tags``.

    ``also_after`` (an action: "cancel", "close", "raise", "outer" or "cancel_caller"): part 1's rules
    broken from the first such action on count too — a pool that runs too many jobs
    only after a cancellation has a cancellation bug.
    """
    story.begin()
    trace = play(candidate, scenario, backend=backend, seed=seed)
    events = trace.get("events", [])
    if not isinstance(events, list):
        raise AssertionError("the driver returned no trace")
    if backend != "asyncio":
        story.say(f"backend: {backend} (scheduling seed {seed})")
    for line in tell(scenario, events):
        story.say(line)
    story.draw(draw(scenario, events, None))
    if "never_quiet" in trace:
        story.say("↳ wrong: the pool never became quiet: some task kept running without waiting")
        raise AssertionError(
            "the pool never became quiet: a task kept running without ever waiting (a busy loop)"
        )
    judge = Judge(scenario, events)
    # For cancelled callers, from the first one that was still waiting when cancelled.
    since = (
        judge.first_caller_cancel if also_after == "cancel_caller" else _first(scenario, also_after)
    )
    broken = [
        v
        for v in judge.violations
        if v.tag in tags or v.tag == CRASH or (v.tag in PART1_TAGS and v.time >= since)
    ]
    if broken:
        first = broken[0]
        story.say(f"↳ wrong at t={first.time:g}: {first.text}")
        story.draw(draw(scenario, events, first))
        raise AssertionError(f"t={first.time:g}: {first.text}")
    return judge


SLEEPING_ENDS = ("value", "none", "error", "group", "self_cancel")  # these sleep first


def _first(scenario: Scenario, action: str | None) -> float:
    """When the first ``action`` happens in the scenario (infinity: never)."""
    if action == "outer":
        outer = scenario.get("outer_cancel_at")
        return float("inf") if outer is None else float(outer)
    times = [float(a["t"]) for a in scenario["actions"] if a["do"] == action]
    return min(times, default=float("inf"))


def without_failures(scenario: Scenario) -> Scenario:
    """The same scenario with every job returning a value: the twin a failing job is
    compared with."""
    jobs = [
        {"d": j["d"] if j["end"] in SLEEPING_ENDS else 0, "end": "value"} for j in scenario["jobs"]
    ]
    return {**scenario, "jobs": jobs}


def errors_stay_in_their_job(
    candidate: Candidate, story: Story, scenario: Scenario, backend: str = "asyncio", seed: int = 0
) -> None:
    """Rule 4 by comparison: whatever rule the pool keeps when every job succeeds, it
    keeps when some fail — and each failure reaches its Job as the very same object."""
    judge = judged(candidate, story, scenario, frozenset({ERRORS}), backend=backend, seed=seed)
    broken = judge.of(PART1_TAGS)
    if not broken:
        return
    succeeding = without_failures(scenario)
    twin = Judge(succeeding, play(candidate, succeeding, backend=backend, seed=seed)["events"])
    if twin.of(PART1_TAGS):
        return  # the pool breaks that rule without any failing job: another check's business
    failing = [describe_job(i, j) for i, j in enumerate(scenario["jobs"]) if j["end"] != "value"]
    first = broken[0]
    story.say(f"↳ wrong at t={first.time:g}: {first.text}")
    story.draw(draw(judge.scenario, judge.events, first))
    story.say(
        f"↳ with every job succeeding instead, no rule breaks: the failure of {', '.join(failing)} did this"
    )
    raise AssertionError(
        f"t={first.time:g}: {first.text} — only because {', '.join(failing)} failed"
    )


__all__ = [
    "ALL_TAGS",
    "ENDS_FAILING",
    "ENDS_FAILING_ASYNCIO",
    "PART1_TAGS",
    "errors_stay_in_their_job",
    "judged",
    "part1_scenarios",
    "part2_scenarios",
    "play",
    "returning",
    "scenario",
]
