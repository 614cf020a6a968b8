"""Hidden checks for part 3 of worker_pool: the same rules on anyio's trio backend.

Trio runs the tasks woken in one batch in a random order; the driver seeds that
order per scenario (Hypothesis draws the seed), so a failure replays exactly.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pool_support import (
    ALL_TAGS,
    ENDS_FAILING,
    PART1_TAGS,
    Scenario,
    judged,
    part1_scenarios,
    part2_scenarios,
    returning,
    scenario,
)

from dskata.grading import Candidate, Story, check

EXAMPLES = 80

# Two jobs end in the same instant while two submitters wait for room: trio wakes both
# in a random order, so a pool that lets each woken submitter queue its own job may
# queue them out of order (found by a review; caught with scheduling seed 1).
TWO_WAITERS = scenario(
    2,
    2,
    returning(1.01, 1, 1, 1, 1, 1),
    [{"t": round(0.01 * (k + 1), 2), "do": "submit", "job": k} for k in range(6)],
    wait_for_submitters=True,
)
SEEDS = st.integers(0, 2**16)


@check(
    "POOL-TRIO-PART1",
    part=3,
    dimension="correctness",
    points=8,
    timeout=150,
    title="On trio: bounded, fair and complete, as on asyncio",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=part1_scenarios(ENDS_FAILING), seed=SEEDS)
@example(scenario=TWO_WAITERS, seed=1)
def test_trio_part1(candidate: Candidate, story: Story, scenario: Scenario, seed: int) -> None:
    judged(candidate, story, scenario, PART1_TAGS, backend="trio", seed=seed)


@check(
    "POOL-TRIO-PART2",
    part=3,
    dimension="correctness",
    points=8,
    timeout=150,
    title="On trio: cancellation, close, exit by exception or cancellation, no leaks, as on asyncio",
)
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=part2_scenarios(), seed=SEEDS)
def test_trio_part2(candidate: Candidate, story: Story, scenario: Scenario, seed: int) -> None:
    judged(candidate, story, scenario, ALL_TAGS, backend="trio", seed=seed)
