"""Hidden checks for part 1 of the rate limiter: the single-threaded contract."""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st
from rl_model import BucketModel, retry_after_ok
from rl_support import call_text, decode, judge_all, run_steps

from dskata.grading import Candidate, Story, check
from dskata.grading.api import raised_is

# Values chosen to hit the edges: zero steps, thirds that floats cannot hold exactly,
# refills that land exactly on a cost. Integer indices keep generation cheap and
# shrink towards the simplest step (no time passes, first key, default cost).
RATE_VALUES = (1.0, 2.0, 0.5, 3.0, 10.0, 7.0, 1 / 3, 0.3, 100.0, 1000.0)
FORWARD = (0.0, 0.0, 0.001, 0.1, 0.25, 1 / 3, 0.5, 0.7, 1.0, 1.5, 2.3, 3.7, 10.0, 60.0)
BACKWARDS = (*FORWARD, -0.001, -0.5, -1.0, -3.3, -50.0)
KEY_NAMES = ("alice", "bob", "carol")
Scenario = tuple[float, int, list[tuple[float, str, int | None]]]


@st.composite
def scenarios(draw: st.DrawFn, deltas: tuple[float, ...] = FORWARD) -> Scenario:
    rate = RATE_VALUES[draw(st.integers(0, len(RATE_VALUES) - 1))]
    burst = draw(st.integers(1, 10))
    raw = draw(
        st.lists(
            st.tuples(st.integers(0, len(deltas) - 1), st.integers(0, 2), st.integers(0, burst)),
            min_size=1,
            max_size=30,
        )
    )
    now, steps = 100.0, []
    for delta, key, cost in raw:
        now = max(0.0, now + deltas[delta])
        steps.append((now, KEY_NAMES[key], None if cost == 0 else cost))
    return rate, burst, steps


@check(
    "RL-FRESH-BURST",
    part=1,
    dimension="correctness",
    points=4,
    title="A never-used key allows exactly `burst` requests at once, then denies",
)
def test_fresh_burst(candidate: Candidate, story: Story) -> None:
    for burst in (1, 3, 7):
        story.begin()
        steps = [(5.0, "new-key", None)] * (burst + 2)
        outcomes = run_steps(candidate, story, 2.0, burst, steps)
        allowed = [o for o in outcomes if o.allowed]
        assert len(allowed) == burst and all(o.allowed for o in outcomes[:burst]), (
            f"burst={burst}: a fresh key allowed {len(allowed)} of {burst + 2} requests at one instant"
        )
        counts = [o.remaining for o in outcomes[:burst]]
        assert counts == list(range(burst - 1, -1, -1)), (
            f"burst={burst}: remaining counted {counts}, expected {list(range(burst - 1, -1, -1))}"
        )


@check(
    "RL-MODEL",
    part=1,
    dimension="correctness",
    points=10,
    title="Random request sequences agree with an exact token-bucket model",
)
@settings(max_examples=150)
@given(scenario=scenarios())
def test_model(candidate: Candidate, story: Story, scenario: Scenario) -> None:
    story.begin()
    rate, burst, steps = scenario
    outcomes = run_steps(candidate, story, rate, burst, steps)
    judge_all(BucketModel(rate, burst), story, steps, outcomes)


@check(
    "RL-RETRY-AFTER",
    part=1,
    dimension="correctness",
    points=6,
    title="retry_after is exact: allowed at that moment, denied noticeably earlier",
)
@settings(max_examples=60)
@given(scenario=scenarios(), cost=st.integers(1, 10), refill=st.integers(0, 99))
def test_retry_after(
    candidate: Candidate, story: Story, scenario: Scenario, cost: int, refill: int
) -> None:
    story.begin()
    rate, burst, steps = scenario
    model = BucketModel(rate, burst)
    outcomes = run_steps(candidate, story, rate, burst, steps)
    for (at, key, c), got in zip(steps, outcomes, strict=True):
        need = 1 if c is None else c
        expected = 0.0 if got.allowed else model.expected_retry_after(key, need, at)
        ok = (
            got.retry_after == 0.0
            if got.allowed
            else retry_after_ok(got.retry_after, expected, rate)
        )
        if model.judge(key, need, at, got) is not None:
            return  # the decision itself is wrong: RL-MODEL reports that
        assert ok, (
            f"t={at:.6g}: {call_text(key, c)} gave retry_after={got.retry_after!r}, expected {expected:.9g}"
        )
    # A drained key, partly refilled, asked again at exactly retry_after and a little before;
    # both probes are judged by the model, so a float-rounding boundary accepts either answer.
    cost = min(cost, burst)
    partial = refill / 100 * cost / rate  # less than `cost` tokens come back
    handle = candidate.call("new", rate=rate, burst=burst)
    probe_model = BucketModel(rate, burst)
    story.say(f"new limiter: t=0 try_acquire('probe', cost={burst}) drains it")
    drained = decode(
        candidate.call("acquire", handle=handle, key="probe", cost=burst, at=0.0), "probe"
    )
    assert probe_model.judge("probe", burst, 0.0, drained) is None, (
        "a full bucket denied cost=burst"
    )
    got = decode(
        candidate.call("acquire", handle=handle, key="probe", cost=cost, at=partial), "probe"
    )
    story.say(f"t={partial:.6g}: {call_text('probe', cost)} → {got.words()}")
    if got.allowed or probe_model.judge("probe", cost, partial, got) is not None:
        return  # a boundary case, or a wrong decision that RL-MODEL reports
    wait = got.retry_after
    exact = (cost - partial * rate) / rate
    assert retry_after_ok(wait, exact, rate), (
        f"retry_after={wait!r} at t={partial:.6g} with {partial * rate:.6g} tokens and cost {cost}; "
        f"expected (cost - tokens) / rate = {exact:.9g}"
    )
    probes = [
        (partial + 0.9 * wait, "0.9 × retry_after"),
        # 1e-4 tokens short: far outside the 1e-6 boundary tolerance, so it must be denied.
        (partial + wait - 1e-4 / rate, "1e-4 tokens before retry_after"),
        (partial + wait, "exactly retry_after"),
    ]
    for at, when in probes:
        if at <= partial:
            continue
        probe = decode(
            candidate.call("acquire", handle=handle, key="probe", cost=cost, at=at), "probe"
        )
        story.say(f"t={at:.9g} ({when} later): {call_text('probe', cost)} → {probe.words()}")
        why = probe_model.judge("probe", cost, at, probe)
        assert why is None, f"{when} ({wait:.9g} s) after a denial: {why}"


@check(
    "RL-COST",
    part=1,
    dimension="correctness",
    points=4,
    title="Multi-token costs; a denied request changes nothing",
)
def test_cost(candidate: Candidate, story: Story) -> None:
    steps = [
        (0.0, "k", 7),  # allowed, 3 left
        (0.0, "k", 5),  # denied: 3 < 5
        (0.0, "k", 3),  # allowed: the denial took nothing
        (2.5, "k", 5),  # denied: 2.5 tokens
        (3.0, "k", 3),  # allowed: the refill before the denial is kept
        (3.0, "k", 1),  # denied: 0 tokens
        (13.0, "k", 10),  # allowed: full again
    ]
    outcomes = run_steps(candidate, story, 1.0, 10, steps)
    judge_all(BucketModel(1.0, 10), story, steps, outcomes)


@check(
    "RL-REFILL-CAP",
    part=1,
    dimension="correctness",
    points=3,
    title="A long-idle bucket holds at most `burst` tokens",
)
def test_refill_cap(candidate: Candidate, story: Story) -> None:
    steps = [(0.0, "k", 4)] + [(1000.0, "k", 1)] * 5
    outcomes = run_steps(candidate, story, 2.0, 4, steps)
    judge_all(BucketModel(2.0, 4), story, steps, outcomes)


@check(
    "RL-KEYS-INDEPENDENT",
    part=1,
    dimension="correctness",
    points=3,
    title="Every key has its own bucket",
)
def test_keys_independent(candidate: Candidate, story: Story) -> None:
    keys = [f"user-{i}" for i in range(200)] + ["a", "A", "a ", ""]
    steps = [(1.0, k, None) for k in keys for _ in range(3)]
    outcomes = run_steps(candidate, story, 1.0, 2, steps)
    story.lines[:] = story.lines[:1]
    for i, key in enumerate(keys):
        got = outcomes[3 * i : 3 * i + 3]
        pattern = [o.allowed for o in got]
        if pattern != [True, True, False]:
            story.say(
                f"t=1: 3 × try_acquire({key!r}) with burst=2 → {pattern} after {i} other keys drained"
            )
            raise AssertionError(f"key {key!r} got {pattern} instead of [allowed, allowed, denied]")


INVALID_LIMITERS = [
    (0, 3),
    (-1.0, 3),
    (math.nan, 3),
    (math.inf, 3),
    (-math.inf, 3),
    (1.0, 0),
    (1.0, -2),
    (1.0, 1.5),
    (1.0, 2.0),  # a float that happens to be whole is still not an int
]


@check(
    "RL-VALIDATION",
    part=1,
    dimension="correctness",
    points=4,
    title="ValueError for a bad rate, burst or cost",
)
def test_validation(candidate: Candidate, story: Story) -> None:
    wrong: list[str] = []
    for rate, burst in INVALID_LIMITERS:
        reply = candidate.attempt("construct", rate=rate, burst=burst)
        if not raised_is(reply.raised, "ValueError"):
            got = "no exception" if reply.raised is None else reply.raised["type"]
            wrong.append(f"TokenBucketLimiter(rate={rate!r}, burst={burst!r}) gave {got}")
    ok = candidate.attempt("construct", rate=5, burst=3)
    if ok.raised is not None:
        wrong.append(
            f"TokenBucketLimiter(rate=5, burst=3) (an int rate) raised {ok.raised['type']}"
        )
    handle = candidate.call("new", rate=1.0, burst=3)
    for cost in (0, -1, 4, 1.5, 2.0):
        reply = candidate.attempt("acquire", handle=handle, key="k", cost=cost)
        if not raised_is(reply.raised, "ValueError"):
            got = "no exception" if reply.raised is None else reply.raised["type"]
            wrong.append(f"try_acquire('k', cost={cost!r}) with burst=3 gave {got}")
    for line in wrong:
        story.say(line + ", expected ValueError" if "int rate" not in line else line)
    assert not wrong, f"{len(wrong)} invalid argument(s) not rejected with ValueError: {wrong[0]}"


@check(
    "RL-CLOCK-BACKWARDS",
    part=1,
    dimension="resilience",
    points=6,
    title="A clock that jumps backwards creates no tokens and breaks nothing",
)
@settings(max_examples=150)
@example(
    scenario=(
        1.0,
        2,
        [(100.0, "a", 2), (50.0, "a", 1), (99.5, "a", 1), (101.0, "a", 1), (101.0, "a", 1)],
    )
)
@example(
    scenario=(
        2.0,
        3,
        [(10.0, "a", 3), (4.0, "a", 1), (10.0, "a", 1), (10.5, "a", 1), (10.5, "a", 1)],
    )
)
@given(scenario=scenarios(BACKWARDS))
def test_clock_backwards(candidate: Candidate, story: Story, scenario: Scenario) -> None:
    story.begin()
    rate, burst, steps = scenario
    outcomes = run_steps(candidate, story, rate, burst, steps)
    judge_all(BucketModel(rate, burst), story, steps, outcomes)


EVICTION_RATES = (1.0, 0.5, 3.0, 1 / 3, 7.0, 0.25)
EVICTION_FRACTIONS = (0.9, 0.5, 0.99, 0.75, 0.95)


@check(
    "RL-EVICTION-SAFE",
    part=1,
    dimension="integrity",
    points=4,
    title="A key idle for less than burst/rate is not forgotten while others come and go",
)
@settings(max_examples=25)
@given(
    rate_at=st.integers(0, len(EVICTION_RATES) - 1),
    burst=st.integers(2, 10),
    reuse=st.booleans(),
    fraction_at=st.integers(0, len(EVICTION_FRACTIONS) - 1),
)
def test_eviction_safe(
    candidate: Candidate, story: Story, rate_at: int, burst: int, reuse: bool, fraction_at: int
) -> None:
    story.begin()
    rate, fraction = EVICTION_RATES[rate_at], EVICTION_FRACTIONS[fraction_at]
    idle = burst / rate  # after this long the victim is full and may be forgotten
    steps: list[tuple[float, str, int | None]] = [(0.0, "victim", burst)]
    last_use = 0.0
    if reuse:  # used again later: its idle time counts from the last use, not the first
        last_use = 0.6 * idle
        steps.append((last_use, "victim", 1))
    probe_at = last_use + fraction * idle
    # Enough distinct keys that a sweep by table size or by call count runs, and a rush
    # of them just before the victim returns, after any wrongly computed expiry.
    spread, rush = 2000, 1500
    steps += [(probe_at * i / spread, f"crowd-{i}", 1) for i in range(spread)]
    rush_from = probe_at - 0.05 * idle
    steps += [(rush_from + 0.05 * idle * i / rush, f"rush-{i}", 1) for i in range(rush)]
    crowd = spread + rush
    steps.sort(key=lambda s: s[0])  # the victim's reuse lands inside the crowd, in time order
    steps.append((probe_at, "victim", burst))
    outcomes = run_steps(candidate, story, rate, burst, steps)
    # Tell the victim's steps; the crowd becomes one line.
    victim = [line for line in story.lines[1:] if "'victim'" in line]
    story.lines[1:] = [
        victim[0],
        *victim[1:-1],
        f"… {crowd} other keys each try_acquire once between t=0 and t={probe_at:.6g} …",
        victim[-1],
    ]
    model = BucketModel(rate, burst)
    for (at, key, cost), got in zip(steps, outcomes, strict=True):
        why = model.judge(key, 1 if cost is None else cost, at, got)
        if why is not None:
            story.say(f"↳ wrong at t={at:.6g}: {why}")
            hint = (
                f" (idle {at - last_use:.6g} s < burst/rate = {idle:.6g} s: not yet forgettable)"
                if key == "victim"
                else ""
            )
            raise AssertionError(
                f"t={at:.6g}: {call_text(key, cost)} was {got.words()}: {why}{hint}"
            )


@check(
    "RL-MEMORY",
    part=1,
    dimension="performance",
    points=6,
    timeout=60,
    title="Memory stays bounded over a million distinct keys",
)
def test_memory(candidate: Candidate, story: Story) -> None:
    keys = 1_000_000
    result = candidate.call(
        "memory",
        rate=1000.0,
        burst=10,
        keys=keys,
        step=0.001,
        hot_every=1,
        hot_cost=2,
        timeout_s=40,
    )
    growth = [int(g) for g in result["growth"]]
    mib = [round(g / 2**20, 1) for g in growth]
    story.say("rate=1000/s, burst=10: a new key every 1 ms, each full again 1 ms after its one use")
    story.say("one key, 'hot', asks for 2 tokens every 1 ms (1 refills), so it is never full")
    story.say(f"resident memory growth after 250k/500k/750k/1M keys: {mib} MiB")
    assert growth[-1] < 48 * 2**20, (
        f"memory grew by {mib[-1]} MiB over {keys:,} keys that were each idle long enough to forget"
    )


def _throughput(who: Candidate, keys: int, calls: int, tick: float) -> float:
    result = who.call(
        "throughput",
        rate=1000.0 if keys < 100 else 1.0,
        burst=100 if keys < 100 else 5,
        keys=keys,
        calls=calls,
        tick=tick,
        max_seconds=2.0,
        timeout_s=15,
    )
    return float(result["calls"]) / max(float(result["seconds"]), 1e-9)


def _compare(
    candidate: Candidate, reference: Candidate, story: Story, keys: int, floor: float
) -> None:
    calls, tick = 150_000, 1e-5 if keys < 100 else 1e-6
    best_c = best_r = 0.0
    for _ in range(3):  # interleaved, best of three: the machine is noisy
        best_c = max(best_c, _throughput(candidate, keys, calls, tick))  # first: a stub fails fast
        best_r = max(best_r, _throughput(reference, keys, calls, tick))
    ratio = best_c / best_r
    story.say(
        f"{keys} keys round-robin: candidate {best_c:,.0f} calls/s, reference {best_r:,.0f} calls/s"
    )
    story.say(f"ratio {ratio:.2f} (needs ≥ {floor})")
    assert ratio >= floor, (
        f"throughput {ratio:.2f}× the reference's with {keys} live keys (needs ≥ {floor}×)"
    )


@check(
    "RL-SPEED",
    part=1,
    dimension="performance",
    points=5,
    timeout=60,
    title="Throughput on hot keys at least 0.3× the reference, same run",
)
def test_speed(candidate: Candidate, reference: Candidate, story: Story) -> None:
    _compare(candidate, reference, story, keys=8, floor=0.3)


@check(
    "RL-MANY-KEYS-SPEED",
    part=1,
    dimension="performance",
    points=4,
    timeout=60,
    title="Per-call cost stays amortised O(1) with 20,000 live keys",
)
def test_many_keys_speed(candidate: Candidate, reference: Candidate, story: Story) -> None:
    _compare(candidate, reference, story, keys=20_000, floor=0.2)
