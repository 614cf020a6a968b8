"""The worker-pool judge on hand-written traces: each rule it owns, broken once, is named.

The mutants prove the grader catches real pools; these pin the judge's reading of the
statement's subtler choices (same-instant order, cancelled jobs that keep a queue
place, quiet moments), so a change to it cannot quietly loosen or tighten them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graders" / "worker_pool"))

from pool_judge import Judge
from pool_support import returning, scenario


def _scenario(workers: int, queue_size: int, jobs: int) -> dict[str, Any]:
    """Jobs of 1 s; the events below are written by hand, so no actions are needed."""
    return scenario(workers, queue_size, returning(*[1] * jobs), [])


def _tail(exit_t: float, jobs: dict[int, str]) -> list[list[Any]]:
    return [
        [exit_t, "exit", -1, "normally"],
        [exit_t, "tasks_left", -1, ""],
        [exit_t, "outcomes", -1, ""],
        *[[exit_t, "outcome", i, f"done|{r}|{r}"] for i, r in jobs.items()],
        [exit_t, "after", -1, ""],
    ]


def _submitted(t: float, i: int) -> list[list[Any]]:
    return [[t, "call", i, "submit"], [t, "accepted", i, ""]]


def tags(judge: Judge) -> set[str]:
    return {v.tag for v in judge.violations}


def test_a_correct_trace_breaks_nothing() -> None:
    # workers=1, queue_size=1: job 0 runs, job 1 waits, job 1 starts when job 0 ends.
    events = [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        *_submitted(0.02, 1),
        [0.02, "leave", -1, ""],
        [1.01, "end", 0, "returned"],
        [1.01, "start", 1, ""],
        [2.01, "end", 1, "returned"],
        *_tail(2.01, {0: "its value", 1: "its value"}),
    ]
    assert Judge(_scenario(1, 1, 2), events).violations == []


def test_same_instant_starts_in_either_order_are_fine_but_a_later_start_is_not() -> None:
    # workers=2: jobs 0 and 1 run until t=1.01; jobs 2 and 3 wait and start when they end.
    base = [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        *_submitted(0.02, 1),
        [0.02, "start", 1, ""],
        *_submitted(0.03, 2),
        *_submitted(0.04, 3),
        [0.04, "leave", -1, ""],
        [1.01, "end", 0, "returned"],
        [1.01, "end", 1, "returned"],
    ]
    results = {i: "its value" for i in range(4)}
    swapped = [
        [1.01, "start", 3, ""],
        [1.01, "start", 2, ""],
        [2.01, "end", 3, "returned"],
        [2.01, "end", 2, "returned"],
        *_tail(2.01, results),
    ]
    assert Judge(_scenario(2, 2, 4), base + swapped).violations == []
    # Job 3 takes the second free worker while job 2, submitted before it, is left waiting.
    late = [
        [1.01, "start", 3, ""],
        [1.5, "start", 2, ""],
        [2.01, "end", 3, "returned"],
        [2.5, "end", 2, "returned"],
        *_tail(2.5, results),
    ]
    assert "fifo" in tags(Judge(_scenario(2, 2, 4), base + late))


def test_too_many_running_and_a_free_worker_beside_a_queued_job() -> None:
    events = [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        *_submitted(0.02, 1),
        [0.02, "start", 1, ""],
        [0.02, "leave", -1, ""],
        [1.01, "end", 0, "returned"],
        [1.02, "end", 1, "returned"],
        *_tail(1.02, {0: "its value", 1: "its value"}),
    ]
    assert "bound" in tags(Judge(_scenario(1, 1, 2), events))
    lazy = [
        *_submitted(0.01, 0),
        [0.02, "leave", -1, ""],
        [0.5, "start", 0, ""],
        [1.5, "end", 0, "returned"],
        *_tail(1.5, {0: "its value"}),
    ]
    assert "reuse" in tags(Judge(_scenario(1, 1, 1), lazy))


@pytest.mark.parametrize("freed_at_once", [True, False])
def test_a_cancelled_queued_job_may_keep_its_place_until_a_worker_skips_it(
    freed_at_once: bool,
) -> None:
    # workers=1, queue_size=1: job 1 waits, is cancelled; a submit of job 2 may be
    # accepted at once or when the worker skips job 1 (at t=1.01).
    accepted_2 = 0.04 if freed_at_once else 1.01
    events = [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        *_submitted(0.02, 1),
        [0.03, "cancel", 1, "done"],
        [0.04, "call", 2, "submit"],
        [accepted_2, "accepted", 2, ""],
        [1.01, "end", 0, "returned"],
        [1.01, "start", 2, ""],
        [1.01, "leave", -1, ""],
        [2.01, "end", 2, "returned"],
        *_tail(2.01, {0: "its value", 1: "JobCancelled", 2: "its value"}),
    ]
    events.sort(key=lambda e: e[0])
    assert Judge(_scenario(1, 1, 3), events).violations == []


def test_a_submit_that_waits_with_room_and_a_waiter_left_after_close() -> None:
    waits = [
        [0.01, "call", 0, "submit"],
        [0.02, "leave", -1, ""],
        [0.5, "accepted", 0, ""],
        [0.5, "start", 0, ""],
        [1.5, "end", 0, "returned"],
        *_tail(1.5, {0: "its value"}),
    ]
    assert "queue" in tags(Judge(_scenario(1, 0, 1), waits))
    stuck = [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        [0.02, "call", 1, "submit"],
        [0.03, "close", 1, ""],
        [1.01, "end", 0, "returned"],
        [1.01, "closed", 1, ""],
        [1.01, "leave", -1, ""],
        [1.01, "refused", 1, "PoolClosed"],
        *_tail(1.01, {0: "its value"}),
    ]
    assert "close" in tags(Judge(_scenario(1, 0, 2), stuck))


# -- cancelled callers: a task cancelled while it waits in submit(), result() or close()


def test_a_cancelled_submitter_leaves_no_job_behind() -> None:
    # workers=1, queue_size=0: job 0 runs; the submitters of jobs 1 and 2 wait for room;
    # the first is cancelled. The room at t=1.01 must go to job 2, and job 1 never runs.
    waiting = [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        [0.02, "call", 1, "submit"],
        [0.03, "call", 2, "submit"],
        [0.04, "cancel_caller", 1, "submit"],
        [0.04, "submit_cancelled", 1, ""],
        [1.01, "end", 0, "returned"],
    ]
    served = [
        [1.01, "accepted", 2, ""],
        [1.01, "start", 2, ""],
        [1.01, "leave", -1, ""],
        [2.01, "end", 2, "returned"],
        *_tail(2.01, {0: "its value", 2: "its value"}),
    ]
    assert Judge(_scenario(1, 0, 3), waiting + served).violations == []
    # The cancelled submitter stayed in the line: its job takes the room, and runs.
    left_in_line = [
        [1.01, "start", 1, ""],
        [2.01, "end", 1, "returned"],
        [2.01, "accepted", 2, ""],
        [2.01, "start", 2, ""],
        [2.01, "leave", -1, ""],
        [3.01, "end", 2, "returned"],
        *_tail(3.01, {0: "its value", 2: "its value"}),
    ]
    judge = Judge(_scenario(1, 0, 3), waiting + left_in_line)
    assert tags(judge) == {"caller_cancel"}
    assert "a cancelled submit must leave no job behind" in judge.violations[0].text


def _two_waiters() -> list[list[Any]]:
    """workers=1: job 0 runs from t=0.01; tasks w1 and w2 wait in its result()."""
    return [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        [0.02, "wait", 0, "w1"],
        [0.03, "wait", 0, "w2"],
    ]


def test_cancelling_a_result_waiter_leaves_the_job_alone() -> None:
    w1_cancelled = [
        [0.04, "cancel_caller", 0, "result|w1"],
        [0.04, "wait_cancelled", 0, "w1"],
    ]
    goes_on = [
        [0.04, "job_done", 0, "not done"],
        [0.04, "leave", -1, ""],
        [1.01, "end", 0, "returned"],
        [1.01, "waited", 0, "w2|its value"],
        *_tail(1.01, {0: "its value"}),
    ]
    assert Judge(_scenario(1, 0, 1), _two_waiters() + w1_cancelled + goes_on).violations == []
    # As awaiting an asyncio.Task would: the waiter's cancellation cancels the job, and
    # the other waiter gets JobCancelled instead of the value.
    cancelled_with_it = [
        [0.04, "cancel_caller", 0, "result|w1"],
        [0.04, "end", 0, "cancelled"],
        [0.04, "wait_cancelled", 0, "w1"],
        [0.04, "waited", 0, "w2|JobCancelled"],
        [0.04, "job_done", 0, "done"],
        [0.04, "leave", -1, ""],
        *_tail(0.04, {0: "JobCancelled"}),
    ]
    assert tags(Judge(_scenario(1, 0, 1), _two_waiters() + cancelled_with_it)) == {
        "caller_cancel"
    }


def test_every_result_waiter_is_woken_in_the_instant_the_job_ends() -> None:
    ends = [[0.03, "leave", -1, ""], [1.01, "end", 0, "returned"]]
    both = [
        [1.01, "waited", 0, "w2|its value"],
        [1.01, "waited", 0, "w1|its value"],
        *_tail(1.01, {0: "its value"}),
    ]
    assert Judge(_scenario(1, 0, 1), _two_waiters() + ends + both).violations == []
    # Only the latest waiter is woken; w1 still waits when the play is over.
    one = [
        [1.01, "waited", 0, "w2|its value"],
        *_tail(1.01, {0: "its value"}),
        [1.01, "wait_pending", 0, "w1"],
    ]
    judge = Judge(_scenario(1, 0, 1), _two_waiters() + ends + one)
    assert tags(judge) == {"complete"}
    assert "was never woken" in judge.violations[0].text


def test_a_cancelled_close_caller_leaves_at_once_and_the_pool_stays_closed() -> None:
    # Jobs 0 runs; close() #1 and #2 wait for it; the caller of #1 is cancelled.
    closing = [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        [0.02, "close", 1, ""],
        [0.03, "close", 2, ""],
        [0.04, "cancel_caller", 1, "close"],
    ]
    leaves = [
        [0.04, "close_cancelled", 1, ""],
        [0.04, "leave", -1, ""],
        [1.01, "end", 0, "returned"],
        [1.01, "closed", 2, ""],
        *_tail(1.01, {0: "its value"}),
    ]
    assert Judge(_scenario(1, 0, 1), closing + leaves).violations == []
    # A shielded close(): its caller can leave only when the last job has ended.
    shielded = [
        [0.04, "leave", -1, ""],
        [1.01, "end", 0, "returned"],
        [1.01, "closed", 2, ""],
        [1.01, "closed", 1, ""],
        *_tail(1.01, {0: "its value"}),
    ]
    judge = Judge(_scenario(1, 0, 1), closing + shielded)
    assert tags(judge) == {"caller_cancel"}
    assert "instead of raising the cancellation at once" in judge.violations[0].text


def test_the_timeline_shows_cancelled_callers() -> None:
    from pool_timeline import draw

    events = [
        *_submitted(0.01, 0),
        [0.01, "start", 0, ""],
        [0.02, "call", 1, "submit"],
        [0.03, "close", 1, ""],
        [0.04, "cancel_caller", 1, "submit"],
        [0.04, "submit_cancelled", 1, ""],
        [0.05, "cancel_caller", 1, "close"],
        [0.05, "close_cancelled", 1, ""],
        [0.05, "leave", -1, ""],
        [1.01, "end", 0, "returned"],
        *_tail(1.01, {0: "its value"}),
    ]
    timeline = draw(_scenario(1, 0, 2), events, None)
    assert timeline.lanes == ["job 0", "job 1"]
    # Job 1's submitter waited from 0.02 until its caller was cancelled, and no longer.
    assert [(s.lane, s.start, s.end) for s in timeline.spans if s.lane == 1] == [(1, 0.02, 0.04)]
    said = {(m.label, m.lane) for m in timeline.marks}
    assert ("caller cancelled", 1) in said
    assert ("submit() caller cancelled", 1) in said
    assert ("close() caller cancelled", None) in said
