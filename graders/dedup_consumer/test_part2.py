"""Hidden checks for part 2 of dedup_consumer: failing handlers, dead letters, poison
messages, Conflicts and argument checks, in virtual time."""

from __future__ import annotations

from dedup_judge import CONFLICT, DEAD, FAILED, ONCE
from dedup_support import Spec, describe, judged, last_commit, once_each, play, scenarios
from hypothesis import example, given, settings

from dskata.grading import Candidate, CandidateRaised, Story, check

EXAMPLES = 40

# Fails twice, then succeeds: two nacks with growing delays, then one commit.
TWICE = once_each(1, failures={"m0": 2}, max_attempts=3)
# Poison with max_attempts=3: nack, nack, dead-letter at attempt 3 — not 2, not 4.
POISON3 = once_each(2, failures={"m0": -1}, max_attempts=3)
# max_attempts=1: the first failure is dead-lettered.
POISON1 = once_each(1, failures={"m0": -1}, max_attempts=1)


@check(
    "DEDUP-BACKOFF",
    part=2,
    dimension="resilience",
    points=8,
    timeout=150,
    title="A failing handler's writes are discarded and the delivery is nacked with a delay > 0 that never shrinks",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(s=scenarios(failing=True, crashing=False))
@example(s=TWICE)
@example(s=POISON3)
def test_backoff(candidate: Candidate, story: Story, s: Spec) -> None:
    judged(candidate, story, s, frozenset({FAILED, ONCE}))


@check(
    "DEDUP-DEADLETTER",
    part=2,
    dimension="resilience",
    points=10,
    timeout=150,
    title="A failure at attempt >= max_attempts is dead-lettered, naming the exception; earlier ones are nacked",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(s=scenarios(failing=True))
@example(s=TWICE)
@example(s=POISON3)
@example(s=POISON1)
def test_dead_letter(candidate: Candidate, story: Story, s: Spec) -> None:
    judged(candidate, story, s, frozenset({DEAD}))


@check(
    "DEDUP-POISON",
    part=2,
    dimension="resilience",
    points=8,
    timeout=120,
    title="A poison message never holds up the others",
)
def test_poison_holds_nobody_up(candidate: Candidate, story: Story) -> None:
    """A poison message first, four good ones behind it; compared with the same run
    without the poison message, the good ones may wait only for the poison message's
    own handler calls, never for its backoff."""
    good = {f"m{i}" for i in range(1, 5)}
    s = once_each(5, failures={"m0": -1}, max_attempts=4)
    twin = {**s, "failures": {}, "publish": [p for p in s["publish"] if p[1] != 0]}
    story.begin()
    for line in describe(s):
        story.say(line)
    judged_poison = play(candidate, s)
    base = last_commit(play(candidate, twin), good)
    got = last_commit(judged_poison, good)
    calls = s["max_attempts"]
    allowed = base + calls * (s["handler_s"] + 0.2) + 0.5
    story.say(
        f"without m0, the last good message was committed at t={base:g}; with it, at t={got:g}"
    )
    if got > allowed:
        story.say(
            f"↳ wrong: the good messages waited {got - base:g} s longer — more than m0's own "
            f"{calls} handler calls need ({allowed - base:g} s): m0's retries held them up"
        )
        raise AssertionError(
            f"the good messages finished {got - base:g} s later because of one poison message"
        )


CONFLICTED = once_each(2, (0.0, 1), conflicts={"m0": 1})
CONFLICTED_TWICE = once_each(1, conflicts={"m0": 2}, max_attempts=1)


@check(
    "DEDUP-CONFLICT",
    part=2,
    dimension="integrity",
    points=8,
    timeout=150,
    title="A Conflict at commit retries the transaction; it is not a handler failure",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(s=scenarios(failing=True, crashing=False))
@example(s=CONFLICTED)
@example(s=CONFLICTED_TWICE)
def test_conflict(candidate: Candidate, story: Story, s: Spec) -> None:
    judged(candidate, story, s, frozenset({CONFLICT, ONCE}))


BAD_ARGS = [
    {"max_attempts": 0},
    {"max_attempts": -1},
    {"concurrency": 0},
    {"dedup_window": 0.0},
    {"dedup_window": -5.0},
]


@check(
    "DEDUP-ARGS",
    part=2,
    dimension="correctness",
    points=3,
    timeout=30,
    title="ValueError for max_attempts < 1, concurrency < 1, dedup_window <= 0",
)
def test_arguments(candidate: Candidate, story: Story) -> None:
    for kwargs in [*BAD_ARGS, {}]:
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        try:
            candidate.call("construct", **kwargs)
        except CandidateRaised as exc:
            story.say(f"DedupConsumer(broker, store, handler, {shown}) raised {exc.type_name}")
            if not kwargs:
                raise AssertionError(f"the default arguments raised {exc.type_name}") from None
            if "ValueError" not in (exc.type_name, *exc.mro):
                raise AssertionError(f"{shown} raised {exc.type_name}, not ValueError") from None
            continue
        story.say(f"DedupConsumer(broker, store, handler, {shown}) was accepted")
        if kwargs:
            raise AssertionError(f"DedupConsumer(..., {shown}) did not raise ValueError")
