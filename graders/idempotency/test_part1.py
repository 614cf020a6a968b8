"""Hidden checks for part 1 of idempotency: one process, asyncio, a manual clock."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from idem_support import Session, check_bad_keys, check_bad_limits, result_for, value_for

from dskata.grading import Candidate, Story, check

# (ttl, lease): lease shorter than ttl, equal, longer (a slow operation outlives its
# record), and a tiny lease next to a long ttl.
LIMITS = ((10.0, 3.0), (5.0, 5.0), (2.0, 6.0), (100.0, 1.0))
DELTAS = (0.5, 1.0, 2.5, 4.0, 0.1, 12.0, 40.0)
KEYS = ("order-1", "order-2")
FINGERPRINTS = ("A", "B")
# Weighted: most steps start calls or end operations, so keys collide, leases run out
# under running executors and results get replayed (a uniform mix mostly did nothing).
KINDS = ("start", "finish", "advance", "start", "finish", "fail", "cancel", "mutate", "start")
Step = tuple[Any, ...]

_step = st.tuples(
    st.integers(0, len(KINDS) - 1),
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=3),
    st.integers(0, 5),
    st.integers(0, len(DELTAS) - 1),
)


def run_program(session: Session, steps: list[Step]) -> None:
    """Interprets generated steps; indices pick among the calls whose operation runs."""
    running: list[str] = []
    for n, (kind_index, pairs, pick, delta) in enumerate(steps):
        kind = KINDS[kind_index]
        if kind == "start":
            running += session.start(*[(KEYS[k], FINGERPRINTS[f]) for k, f in pairs])
        elif kind == "advance":
            session.advance(DELTAS[delta])
        elif kind == "mutate":
            if session.returned:
                session.mutate(session.returned[pick % len(session.returned)])
        elif running:
            call = running.pop(pick % len(running))
            if kind == "finish":
                session.finish(call, result_for(call, n))
            elif kind == "fail":
                session.fail(call)
            else:
                session.cancel(call)


@check(
    "IDEM-MODEL",
    part=1,
    dimension="correctness",
    points=12,
    timeout=90,
    title="Random interleavings of calls, results, failures, cancellations and time agree with the contract",
)
@settings(max_examples=200, deadline=None)
@given(limits=st.sampled_from(LIMITS), steps=st.lists(_step, min_size=2, max_size=30))
@example(  # a takeover, then the stale executor finishes: fencing on the first try
    limits=(10.0, 3.0),
    steps=[
        (0, [(0, 0)], 0, 0),
        (2, [], 0, 3),
        (0, [(0, 0)], 0, 0),
        (1, [], 0, 0),
        (0, [(0, 0)], 0, 0),
    ],
)
def test_model(
    candidate: Candidate, story: Story, limits: tuple[float, float], steps: list[Step]
) -> None:
    story.begin()
    ttl, lease = limits
    run_program(Session(candidate, story, ttl, lease), steps)


@check(
    "IDEM-NEW-REPLAY",
    part=1,
    dimension="correctness",
    points=4,
    title="A new key runs the operation once; the same request then replays its result",
)
def test_new_and_replay(candidate: Candidate, story: Story) -> None:
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    [c] = s.start(("charge-42", "A"))
    s.advance(0.5)
    s.finish(c, value_for(c))
    for _ in range(3):
        s.advance(1.0)
        s.start(("charge-42", "A"))
    s.start(("charge-43", "A"))  # another key is new
    # Any JSON value is a result, also the ones that look like "nothing".
    for n, result in enumerate((None, 0, False, "", [], {}, 2.5)):
        [c] = s.start((f"scalar-{n}", "A"))
        s.finish(c, result)
        s.start((f"scalar-{n}", "A"))
        s.start((f"scalar-{n}", "A"))


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@check(
    "IDEM-REPLAY-COPY",
    part=1,
    dimension="integrity",
    points=4,
    title="Changing a returned value, even deep inside, never changes later replays",
)
@settings(max_examples=40, deadline=None)
@given(value=st.lists(_json, max_size=4) | st.dictionaries(st.text(max_size=3), _json, max_size=4))
@example(value={"items": [{"sku": "x", "qty": 1}], "total": 3})
def test_replay_copy(candidate: Candidate, story: Story, value: Any) -> None:
    story.begin()
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    [c] = s.start(("k", "A"))
    s.finish(c, value)
    s.mutate(c)  # the first caller's copy
    for _ in range(3):
        s.start(("k", "A"))
        s.mutate(s.returned[-1])  # and each replay's
    s.start(("k", "A"))


@check(
    "IDEM-FAILURE-FORGOTTEN",
    part=1,
    dimension="correctness",
    points=4,
    title="A failing operation re-raises its own exception and leaves the key new",
)
def test_failure_forgotten(candidate: Candidate, story: Story) -> None:
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    for _ in range(2):
        [c] = s.start(("refund-7", "A"))
        s.fail(c)
    [c] = s.start(("refund-7", "A"))
    s.finish(c, value_for(c))
    s.start(("refund-7", "A"))
    # A failed key is new: a retry with another fingerprint runs as well.
    [c] = s.start(("refund-8", "A"))
    s.fail(c)
    [c] = s.start(("refund-8", "B"))
    s.finish(c, value_for(c, 2))
    s.start(("refund-8", "B"))


@check(
    "IDEM-CANCEL-FORGOTTEN",
    part=1,
    dimension="correctness",
    points=4,
    title="A cancelled caller propagates the cancellation and leaves the key new",
)
def test_cancel_forgotten(candidate: Candidate, story: Story) -> None:
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    [c] = s.start(("transfer-1", "A"))
    s.advance(1.0)
    s.cancel(c)
    [c] = s.start(("transfer-1", "A"))
    s.finish(c, value_for(c))
    s.start(("transfer-1", "A"))
    [c] = s.start(("transfer-2", "A"))
    s.cancel(c)
    [c] = s.start(("transfer-2", "B"))  # another payload after the cancellation: new too
    s.finish(c, value_for(c, 2))


@check(
    "IDEM-KEY-REUSED",
    part=1,
    dimension="correctness",
    points=4,
    title="Another fingerprint on a running or completed key raises KeyReused, never runs",
)
def test_key_reused(candidate: Candidate, story: Story) -> None:
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    [c] = s.start(("order-9", "A"))
    s.start(("order-9", "B"))
    s.advance(2.0)
    s.finish(c, value_for(c))
    s.start(("order-9", "B"))
    s.start(("order-9", "A"))


@check(
    "IDEM-IN-PROGRESS",
    part=1,
    dimension="correctness",
    points=4,
    title="The same request while the first runs raises InProgress with the exact time left",
)
def test_in_progress(candidate: Candidate, story: Story) -> None:
    s = Session(candidate, story, ttl=60.0, lease=30.0)
    [c] = s.start(("order-5", "A"))
    for wait in (0.25, 10.0, 19.5):
        s.advance(wait)
        s.start(("order-5", "A"))
    s.finish(c, value_for(c))
    s.start(("order-5", "A"))


@check(
    "IDEM-LEASE-TAKEOVER",
    part=1,
    dimension="integrity",
    points=6,
    title="After the lease a new request takes over; the stale executor cannot overwrite it",
)
def test_lease_takeover(candidate: Candidate, story: Story) -> None:
    # The stale executor finishes, fails or is cancelled while the new claim runs,
    # and (first case) after the new claim completed.
    for ending in ("finish-after", "finish", "fail", "cancel"):
        story.begin()
        s = Session(candidate, story, ttl=60.0, lease=3.0)
        [stale] = s.start(("job", "A"))
        s.advance(3.5)
        [fresh] = s.start(("job", "A"))
        if ending == "finish-after":
            s.finish(fresh, value_for(fresh, 2))
            s.finish(stale, value_for(stale, 1))
        else:
            getattr(s, ending)(*([stale, value_for(stale, 1)] if ending == "finish" else [stale]))
            s.start(("job", "A"))  # the fresh claim still holds
            s.finish(fresh, value_for(fresh, 2))
        s.start(("job", "A"))  # replays the fresh result
    # An expired lease frees the key for any request: another fingerprint takes it over,
    # and from then on the key is that request's.
    story.begin()
    s = Session(candidate, story, ttl=60.0, lease=3.0)
    [stale] = s.start(("job", "A"))
    s.advance(3.5)
    [fresh] = s.start(("job", "B"))
    s.start(("job", "B"))
    s.start(("job", "A"))
    s.finish(stale, value_for(stale, 1))
    s.finish(fresh, value_for(fresh, 2))
    s.start(("job", "B"))
    s.start(("job", "A"))


@check(
    "IDEM-CONCURRENT",
    part=1,
    dimension="concurrency",
    points=6,
    title="Many concurrent calls with one key run the operation once; the rest answer at once",
)
def test_concurrent(candidate: Candidate, story: Story) -> None:
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    ran = s.start(*[("pay-1", "A")] * 10)
    ran += s.start(*[("pay-2", fp) for fp in "ABABABAB"])
    s.advance(1.0)
    for c in ran:
        s.finish(c, value_for(c))
    s.start(*[("pay-1", "A")] * 5, *[("pay-2", "B")] * 5)
    # Keys that were used and expired are new again for a crowd, too: one whose record
    # expired, one whose claim's lease ran out with its executor still running.
    [held] = s.start(("pay-3", "A"))
    s.advance(61.0)
    ran = s.start(*[("pay-1", "A")] * 5, *[("pay-3", fp) for fp in "ABAB"])
    for c in [*ran, held]:
        s.finish(c, value_for(c))


@check(
    "IDEM-TTL",
    part=1,
    dimension="correctness",
    points=4,
    title="A record is kept for ttl seconds after the operation completed, then forgotten",
)
def test_ttl(candidate: Candidate, story: Story) -> None:
    s = Session(candidate, story, ttl=10.0, lease=8.0)
    [c] = s.start(("invoice", "A"))
    s.advance(6.0)  # a slow operation: ttl counts from here, not from the claim
    s.finish(c, value_for(c))
    s.advance(9.0)
    s.start(("invoice", "A"))
    s.start(("invoice", "B"))
    s.advance(1.5)
    [c] = s.start(("invoice", "B"))
    s.finish(c, value_for(c, 2))


# -- validation ---------------------------------------------------------------


@check(
    "IDEM-VALIDATION",
    part=1,
    dimension="correctness",
    points=3,
    title="Bad keys, ttl and lease raise ValueError; good edge values are accepted",
)
def test_validation(candidate: Candidate, story: Story) -> None:
    check_bad_limits(story, "IdempotencyLayer", lambda **kw: candidate.attempt("construct", **kw))
    check_bad_keys(candidate, story, candidate.call("new", ttl=60.0, lease=10.0))
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    for key in ("k" * 255, "é" * 255, "🙂" * 255, "x", "ключ:é 🙂"):
        [c] = s.start((key, "A"))
        s.finish(c, value_for(c))


# -- memory and speed ---------------------------------------------------------


@check(
    "IDEM-MEMORY",
    part=1,
    dimension="performance",
    points=5,
    timeout=60,
    title="Memory stays bounded over 300,000 keys whose records expired",
)
def test_memory(candidate: Candidate, story: Story) -> None:
    keys = 300_000
    result = candidate.call(
        "memory", keys=keys, ttl=0.1, lease=1.0, step=0.001, fail_every=2, timeout_s=40
    )
    mib = [round(int(g) / 2**20, 1) for g in result["growth"]]
    story.say("ttl=0.1 s: a new key every 1 ms, so about 100 records are live at any time")
    story.say("every 2nd operation fails (its claim must be forgotten too)")
    story.say(f"resident memory growth after 75k/150k/225k/300k keys: {mib} MiB")
    assert mib[-1] < 12, (
        f"memory grew by {mib[-1]} MiB over {keys:,} keys whose records had long expired"
    )


def _throughput(who: Candidate, keys: int) -> float:
    result = who.call(
        "throughput", keys=keys, calls=60_000, tick=1e-4, max_seconds=2.0, timeout_s=15
    )
    return float(result["calls"]) / max(float(result["seconds"]), 1e-9)


@check(
    "IDEM-SPEED",
    part=1,
    dimension="performance",
    points=4,
    timeout=60,
    title="Calls per second with 20,000 live records at least 0.25× the reference, same run",
)
def test_speed(candidate: Candidate, reference: Candidate, story: Story) -> None:
    best_c = best_r = 0.0
    for _ in range(3):  # interleaved, best of three: the machine is noisy
        best_c = max(best_c, _throughput(candidate, 20_000))
        best_r = max(best_r, _throughput(reference, 20_000))
    ratio = best_c / best_r
    story.say(f"candidate {best_c:,.0f} calls/s, reference {best_r:,.0f} calls/s")
    story.say(f"ratio {ratio:.2f} (needs ≥ 0.25)")
    assert ratio >= 0.25, f"throughput {ratio:.2f}× the reference's with 20,000 live records"
