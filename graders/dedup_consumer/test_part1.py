"""Hidden checks for part 1 of dedup_consumer: exactly-once effects, in virtual time.

Each check plays Hypothesis-generated scenarios (duplicates, reorderings, redeliveries,
consumers dying at any moment) in the candidate's process and judges the trace for
its own rule; ``dedup_judge`` holds the rules.
"""

from __future__ import annotations

from dedup_judge import ACK, DUP, ONCE, STOP, TTL
from dedup_support import Spec, judge_result, judged, once_each, scenarios, spec
from hypothesis import example, given, settings

from dskata.grading import Candidate, Story, check

EXAMPLES = 40
SWEEP_CHUNK = 10  # crash runs per driver call in the crash sweep

# A duplicate published while the first copy is still being handled, and one after.
DUP_DURING = once_each(2, (0.5, 0), (4.0, 0), (4.0, 1))
# The consumer dies right after the handler ran (before/after the commit, before the ack).
CRASH_AFTER_HANDLER = once_each(1, crashes=[1.07])
CRASH_BEFORE_ACK = once_each(1, crashes=[1.12])
# Messages out of order, duplicated back to back.
REORDERED = spec(3, [(0.0, 2), (0.0, 2), (0.05, 0), (0.1, 1), (0.1, 0)])


@check(
    "DEDUP-ONCE",
    part=1,
    dimension="integrity",
    points=12,
    timeout=150,
    title="Each message's effects are committed exactly once despite duplicates, redeliveries and crashes",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(s=scenarios())
@example(s=DUP_DURING)
@example(s=CRASH_AFTER_HANDLER)
@example(s=CRASH_BEFORE_ACK)
@example(s=REORDERED)
def test_once(candidate: Candidate, story: Story, s: Spec) -> None:
    judged(candidate, story, s, frozenset({ONCE}))


@check(
    "DEDUP-ACK",
    part=1,
    dimension="integrity",
    points=8,
    timeout=150,
    title="A delivery is acked only after its effects are committed (or it is a known duplicate)",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(s=scenarios())
@example(s=DUP_DURING)
@example(s=CRASH_AFTER_HANDLER)
def test_ack(candidate: Candidate, story: Story, s: Spec) -> None:
    judged(candidate, story, s, frozenset({ACK}))


@check(
    "DEDUP-DUP",
    part=1,
    dimension="correctness",
    points=8,
    timeout=150,
    title="Duplicates are acked — not nacked, not dead-lettered — without calling the handler",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(s=scenarios(crashing=False))
@example(s=DUP_DURING)
@example(s=REORDERED)
def test_duplicates(candidate: Candidate, story: Story, s: Spec) -> None:
    judged(candidate, story, s, frozenset({DUP}))


@check(
    "DEDUP-CRASH",
    part=1,
    dimension="resilience",
    points=10,
    timeout=150,
    title="A consumer killed at any moment of a message's processing neither loses it nor applies it twice",
)
def test_crash_sweep(candidate: Candidate, story: Story) -> None:
    """One message and a duplicate; the consumer dies at every 0.05 s of the first 3 s,
    one run per moment (the operations take 0.05 s each, so every gap is hit)."""
    s = once_each(2, (2.0, 0))
    times = [round(0.05 * k + 0.025, 3) for k in range(60)]
    # Ten runs per call, each call with its own time limit: a consumer that polls with
    # short sleeps costs real time in every virtual second (a 10 ms poller needs ~36 s
    # for the 60 runs here), and one limit over all 60 would fail it under load.
    results: list[dict[str, object]] = []
    for first in range(0, len(times), SWEEP_CHUNK):
        chunk = times[first : first + SWEEP_CHUNK]
        results += candidate.call("sweep", scenario=s, crash_times=chunk, timeout_s=30)
    tags = frozenset({ONCE, ACK, DUP})
    for t, result in zip(times, results, strict=True):
        story.begin()
        judge_result(story, {**s, "crashes": [t]}, result, tags)


@check(
    "DEDUP-STOP",
    part=1,
    dimension="correctness",
    points=6,
    timeout=150,
    title="run() returns soon after stop: no new receives, nothing unprocessed acked",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(s=scenarios(crashing=False, stopping=True))
@example(s=once_each(3, stop_at=0.525))
@example(s=once_each(3, stop_at=1.525, concurrency=2))
def test_stop(candidate: Candidate, story: Story, s: Spec) -> None:
    judged(candidate, story, s, frozenset({STOP, ACK}))


@check(
    "DEDUP-TTL",
    part=1,
    dimension="integrity",
    points=4,
    timeout=60,
    title="The processed-marker commits with the effects and expires after dedup_window",
)
def test_marker_ttl(candidate: Candidate, story: Story) -> None:
    judged(candidate, story, once_each(2, (3.0, 1)), frozenset({TTL, ONCE}))
