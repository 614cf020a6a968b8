"""Hidden checks for part 2 of worker_pool: cancellation and shutdown — asyncio, virtual time."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from pool_judge import CALLER, CANCEL, CLOSE, EXIT_ERROR, LEAKS, OUTER, REUSE
from pool_support import Scenario, judged, part2_scenarios, returning, scenario

from dskata.grading import Candidate, Story, check

EXAMPLES = 100


def _scenario(
    workers: int,
    queue_size: int,
    durations: list[float],
    *actions: dict[str, Any],
    outer: float | None = None,
) -> Scenario:
    return scenario(
        workers, queue_size, returning(*durations), list(actions), outer_cancel_at=outer
    )


def _submit(t: float, job: int) -> dict[str, Any]:
    return {"t": t, "do": "submit", "job": job}


def _wait(t: float, job: int, waiter: int) -> dict[str, Any]:
    return {"t": t, "do": "wait", "job": job, "waiter": waiter}


def _cancel_caller(t: float, of: str, number: int) -> dict[str, Any]:
    key = {"submit": "job", "result": "waiter", "close": "closer"}[of]
    return {"t": t, "do": "cancel_caller", "of": of, key: number}


# One running, two queued: cancel a queued job, then the running one.
CANCEL_BOTH = _scenario(
    1,
    3,
    [10, 10, 10],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _submit(0.03, 2),
    {"t": 0.04, "do": "cancel", "job": 1},
    {"t": 2.05, "do": "cancel", "job": 0},
)
# Three queued behind a running job; the first of them is cancelled: the other two
# must still start in their order (a swap-remove from the queue breaks it).
CANCEL_FRONT = _scenario(
    1,
    3,
    [5, 1, 1, 1],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _submit(0.03, 2),
    _submit(0.04, 3),
    {"t": 0.05, "do": "cancel", "job": 1},
)
# A running job, a queued one and two submitters waiting for room; then close().
CLOSE_WAITERS = _scenario(
    1,
    1,
    [5, 5, 5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _submit(0.03, 2),
    _submit(0.04, 3),
    {"t": 1.05, "do": "close", "cancel": False},
)
# close(), then close(cancel=True) escalates it, then close() again.
ESCALATE = _scenario(
    1,
    2,
    [5, 5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _submit(0.03, 2),
    {"t": 1.04, "do": "close", "cancel": False},
    {"t": 2.05, "do": "close", "cancel": True},
    {"t": 2.06, "do": "close", "cancel": False},
)
# Two tasks call a plain close() while one job runs and one waits: both return only
# when the last job ends (a second close() that returns at once is wrong).
TWO_CLOSERS = _scenario(
    1,
    1,
    [5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    {"t": 1.03, "do": "close", "cancel": False},
    {"t": 1.04, "do": "close", "cancel": False},
)
# close(cancel=True), and a plain close() from another task in the same step: the
# queued jobs must still never start (cancel=True is sticky).
STICKY = _scenario(
    1,
    2,
    [5, 5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _submit(0.03, 2),
    {"t": 1.04, "do": "close", "cancel": True, "then_plain": True},
)
# The enclosing scope is cancelled while a normal exit waits for the jobs.
OUTER_DURING_EXIT = _scenario(
    2,
    2,
    [5, 5, 5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _submit(0.03, 2),
    _submit(0.04, 3),
    outer=3.05,
)
# One job runs, one is queued, two submitters wait for room; the first of them is
# cancelled. When room appears it goes to the second: the cancelled one left nothing
# behind (a submitter left in the line of waiters gets that room, and its job runs).
SUBMITTER_CANCELLED = _scenario(
    1,
    1,
    [5, 5, 5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _submit(0.03, 2),
    _submit(0.04, 3),
    _cancel_caller(1.05, "submit", 2),
)
# Two tasks wait in result() of the running job and two in result() of the queued one;
# one of each pair is cancelled. Both jobs go on, and the other waiters get their values.
WAITER_CANCELLED = _scenario(
    1,
    1,
    [5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _wait(0.03, 0, 1),
    _wait(0.04, 0, 2),
    _wait(0.05, 1, 3),
    _wait(0.06, 1, 4),
    _cancel_caller(1.07, "result", 1),
    _cancel_caller(1.08, "result", 3),
)
# Two tasks wait in close() while a job runs and one waits; the first is cancelled. It
# leaves at once, the pool stays closed (a later submit gets PoolClosed), both jobs run
# to their end, and the other close() returns when the last one ends.
CLOSER_CANCELLED = _scenario(
    1,
    1,
    [5, 5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    {"t": 1.03, "do": "close", "cancel": False},
    {"t": 1.04, "do": "close", "cancel": False},
    _cancel_caller(2.05, "close", 1),
    _submit(2.06, 2),
)
# An exception leaves the block while jobs run, wait, and a submitter waits for room.
RAISE_BUSY = _scenario(
    1,
    1,
    [5, 5, 5],
    _submit(0.01, 0),
    _submit(0.02, 1),
    _submit(0.03, 2),
    {"t": 1.04, "do": "raise"},
)


@check(
    "POOL-CANCEL",
    part=2,
    dimension="concurrency",
    points=8,
    timeout=150,
    title="Job.cancel(): a queued job never starts, a running one stops and frees its worker at once",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=part2_scenarios())
@example(scenario=CANCEL_BOTH)
@example(scenario=CANCEL_FRONT)
def test_cancel(candidate: Candidate, story: Story, scenario: Scenario) -> None:
    judged(candidate, story, scenario, frozenset({CANCEL, REUSE}), also_after="cancel")


@check(
    "POOL-CLOSE",
    part=2,
    dimension="correctness",
    points=8,
    timeout=150,
    title="close() and close(cancel=True) from every state: PoolClosed for new and waiting submitters, the right jobs run, returns when the last ends",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=part2_scenarios())
@example(scenario=CLOSE_WAITERS)
@example(scenario=ESCALATE)
@example(scenario=STICKY)
@example(scenario=TWO_CLOSERS)
def test_close(candidate: Candidate, story: Story, scenario: Scenario) -> None:
    judged(candidate, story, scenario, frozenset({CLOSE}), also_after="close")


@check(
    "POOL-EXIT-ERROR",
    part=2,
    dimension="resilience",
    points=6,
    timeout=150,
    title="An exception leaving the block cancels the jobs at once and goes on as the same object",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=part2_scenarios())
@example(scenario=RAISE_BUSY)
def test_exit_error(candidate: Candidate, story: Story, scenario: Scenario) -> None:
    judged(candidate, story, scenario, frozenset({EXIT_ERROR}), also_after="raise")


@check(
    "POOL-OUTER-CANCEL",
    part=2,
    dimension="resilience",
    points=8,
    timeout=150,
    title="Cancelling the enclosing scope at any moment, also during a normal exit, ends the block at once",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=part2_scenarios())
@example(scenario=OUTER_DURING_EXIT)
def test_outer_cancel(candidate: Candidate, story: Story, scenario: Scenario) -> None:
    judged(candidate, story, scenario, frozenset({OUTER}), also_after="outer")


@check(
    "POOL-LEAKS",
    part=2,
    dimension="integrity",
    points=4,
    timeout=150,
    title="No task started by the pool outlives the `async with` block",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=part2_scenarios())
@example(scenario=RAISE_BUSY)
@example(scenario=OUTER_DURING_EXIT)
def test_leaks(candidate: Candidate, story: Story, scenario: Scenario) -> None:
    judged(candidate, story, scenario, frozenset({LEAKS}))


@check(
    "POOL-CALLER-CANCEL",
    part=2,
    dimension="concurrency",
    points=6,
    timeout=150,
    title="Cancelling a task waiting in submit(), result() or close() ends that wait at once and nothing else",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=part2_scenarios())
@example(scenario=SUBMITTER_CANCELLED)
@example(scenario=WAITER_CANCELLED)
@example(scenario=CLOSER_CANCELLED)
def test_caller_cancel(candidate: Candidate, story: Story, scenario: Scenario) -> None:
    judged(candidate, story, scenario, frozenset({CALLER}), also_after="cancel_caller")


INSIDE_EXPECTED = {
    "open: parent's result": "'child value'",
    "open: parent done at": 1.0,
    "exiting: block ended after": 2.0,
    "exiting: follow-up submit": "'PoolClosed'",
    "close inside: returned after": 0.0,
    "close inside: then submit_nowait": "PoolClosed",
    "close inside: job's result": "'closer value'",
    "close inside: block ended after": 1.0,
    "after the block: submit_nowait": "PoolClosed",
    "after the block: submit": "PoolClosed",
    "after the block: close() returned after": 0.0,
}
INSIDE_SETUP = (
    "WorkerPool(2, 1): a job submits a 1 s follow-up to its own pool and returns its result;",
    "then a job that sleeps 2 s and submits a follow-up, while the block is being left normally;",
    "WorkerPool(2, 2): a job calls close() on its own pool, then submit_nowait, then sleeps 1 s;",
    "WorkerPool(2, 2) after its block has ended: submit_nowait, submit and close().",
)


@check(
    "POOL-INSIDE",
    part=2,
    dimension="correctness",
    points=4,
    timeout=60,
    title="A job may submit to its own pool and close it: no deadlock, PoolClosed once closing and after the block",
)
def test_inside(candidate: Candidate, story: Story) -> None:
    facts = candidate.call("inside", timeout_s=20)
    for line in INSIDE_SETUP:
        story.say(line)
    for key, want in INSIDE_EXPECTED.items():
        got = facts.get(key, "nothing: it never got there")
        story.say(f"{key}: {got!r}" + ("" if got == want else f"  ↳ wrong: expected {want!r}"))
    wrong = [k for k, want in INSIDE_EXPECTED.items() if facts.get(k, "nothing") != want]
    assert not wrong, "; ".join(
        f"{k}: got {facts.get(k, 'nothing: it never got there')!r}, expected {INSIDE_EXPECTED[k]!r}"
        for k in wrong
    )
