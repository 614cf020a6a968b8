"""Hidden checks for part 3 of dedup_consumer: bounded concurrency and bounded memory,
in virtual time.

(Rule 12 — several processes on Redis Streams, killed with SIGKILL — needs the kit's
Redis classes; see the exercise's notes.)
"""

from __future__ import annotations

from dedup_judge import ACK, BOUND, DUP, ONCE
from dedup_support import Spec, judged, scenarios, spec
from hypothesis import example, given, settings

from dskata.grading import Candidate, Story, check

EXAMPLES = 40

# Eight messages at once with concurrency=3: never a fourth handler at once.
WIDE = spec(8, [(0.0, i) for i in range(8)], concurrency=3)
# The same message three times at once, with room to handle all three together.
SAME_ID = spec(2, [(0.0, 0), (0.0, 0), (0.0, 0), (0.0, 1)], concurrency=4)
MEMORY_SLACK_B = 8192  # what the candidate's lines may still hold after 1500 more messages


@check(
    "DEDUP-BOUND",
    part=3,
    dimension="concurrency",
    points=10,
    timeout=150,
    title="At most `concurrency` deliveries are handled at once; the same id at once commits once",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(s=scenarios(max_concurrency=4))
@example(s=WIDE)
@example(s=SAME_ID)
def test_bound(candidate: Candidate, story: Story, s: Spec) -> None:
    judged(candidate, story, s, frozenset({BOUND, ONCE, ACK, DUP}))


@check(
    "DEDUP-MEMORY",
    part=3,
    dimension="performance",
    points=6,
    timeout=120,
    title="Nothing is kept per message once it is acked (bounded memory)",
)
def test_memory(candidate: Candidate, story: Story) -> None:
    first, more = 200, 1500
    r = candidate.call("memory", first=first, more=more, concurrency=4, timeout_s=90)
    story.say(
        f"DedupConsumer(concurrency=4) on {first} messages, then {more} more, each acked; "
        "bytes allocated by the candidate's own lines and still alive (tracemalloc), "
        "with the broker and store (and the markers they hold) dropped"
    )
    story.say(
        f"after {first}: {r['after_first']} B; after {first + more}: {r['after_more']} B "
        f"({r['acked']} acked)"
    )
    if r.get("raised"):
        raise AssertionError(f"run() raised {r['raised']}")
    if r["acked"] < first + more:
        raise AssertionError(f"only {r['acked']} of {first + more} messages were acked")
    grew = r["after_more"] - r["after_first"]
    if grew > MEMORY_SLACK_B:
        story.say(
            f"↳ wrong: {grew} B more after {more} more messages — about {grew // more} B each"
        )
        raise AssertionError(
            f"the consumer kept {grew} B more after {more} more acked messages (per-message state)"
        )
