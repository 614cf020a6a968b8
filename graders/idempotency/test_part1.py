"""Hidden checks for part 1 of idempotency: one process, asyncio, a manual clock."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from idem_support import Session, value_for

from dskata.grading import Candidate, Story, check
from dskata.grading.api import raised_is

# (ttl, lease): lease shorter than ttl, equal, longer (a slow operation outlives its
# record), and a tiny lease next to a long ttl.
LIMITS = ((10.0, 3.0), (5.0, 5.0), (2.0, 6.0), (100.0, 1.0))
DELTAS = (0.5, 1.0, 2.5, 4.0, 0.1, 12.0, 40.0)
KEYS = ("order-1", "order-2", "order-3")
FINGERPRINTS = ("A", "B")
Step = tuple[Any, ...]

_step = st.one_of(
    st.tuples(
        st.just("start"),
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1)), min_size=1, max_size=3),
    ),
    st.tuples(st.just("finish"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.integers(0, len(DELTAS) - 1)),
    st.tuples(st.just("fail"), st.integers(0, 5)),
    st.tuples(st.just("cancel"), st.integers(0, 5)),
    st.tuples(st.just("mutate"), st.integers(0, 5)),
)


def run_program(session: Session, steps: list[Step]) -> None:
    """Interprets generated steps; indices pick among the calls whose operation runs."""
    running: list[str] = []
    for n, step in enumerate(steps):
        kind = step[0]
        if kind == "start":
            pairs = [(KEYS[k], FINGERPRINTS[f]) for k, f in step[1]]
            running += session.start(*pairs)
        elif kind == "advance":
            session.advance(DELTAS[step[1]])
        elif kind == "mutate":
            if session.returned:
                session.mutate(session.returned[step[1] % len(session.returned)])
        elif running:
            call = running.pop(step[1] % len(running))
            if kind == "finish":
                session.finish(call, value_for(call, n))
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
@settings(max_examples=120, deadline=None)
@given(limits=st.sampled_from(LIMITS), steps=st.lists(_step, min_size=1, max_size=25))
@example(
    limits=(10.0, 3.0),
    steps=[
        ("start", [(0, 0)]),
        ("advance", 3),
        ("start", [(0, 0)]),
        ("finish", 0),
        ("start", [(0, 0)]),
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


@check(
    "IDEM-REPLAY-COPY",
    part=1,
    dimension="integrity",
    points=4,
    title="Changing a returned value, even deep inside, never changes later replays",
)
@settings(max_examples=40, deadline=None)
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=8,
    ).filter(lambda v: isinstance(v, (list, dict)))
)
@example(value={"items": [{"sku": "x", "qty": 1}], "total": 3})
def test_replay_copy(candidate: Candidate, story: Story, value: Any) -> None:
    story.begin()
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    [c] = s.start(("k", "A"))
    s.finish(c, value)
    s.mutate(c)  # the first caller's copy
    for _ in range(2):
        s.start(("k", "A"))
        s.mutate(s.returned[-1])  # and each replay's


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

BAD_KEYS: list[tuple[Any, str]] = [
    ("", "an empty key"),
    ("k" * 256, "a key of 256 characters"),
    (None, "None"),
    (42, "an int"),
    (["k"], "a list"),
]
BAD_LIMITS: list[tuple[str, Any]] = [
    ("ttl", 0),
    ("ttl", -1.0),
    ("ttl", float("nan")),
    ("ttl", float("inf")),
    ("lease", 0.0),
    ("lease", -5),
    ("lease", float("nan")),
    ("lease", float("inf")),
]


@check(
    "IDEM-VALIDATION",
    part=1,
    dimension="correctness",
    points=3,
    title="Bad keys, ttl and lease raise ValueError; good edge values are accepted",
)
def test_validation(candidate: Candidate, story: Story) -> None:
    for name, value in BAD_LIMITS:
        reply = candidate.attempt("construct", **{name: value})
        story.say(f"IdempotencyLayer({name}={value!r}) → {_raised(reply.raised)}")
        assert raised_is(reply.raised, "ValueError"), (
            f"IdempotencyLayer({name}={value!r}) must raise ValueError; it {_raised(reply.raised)}"
        )
    for name, value in (("ttl", 0.001), ("lease", 1)):
        reply = candidate.attempt("construct", **{name: value})
        assert reply.raised is None, f"IdempotencyLayer({name}={value!r}) must be accepted"
    handle = candidate.call("new", ttl=60.0, lease=10.0)
    for key, words in BAD_KEYS:
        events = candidate.call("start", handle=handle, calls=[["bad", key, "A"]])
        event = events["bad"]
        got = _raised(event.get("raised")) if event["state"] == "raised" else event["state"]
        story.say(f"execute({words}) → {got}")
        assert event["state"] == "raised" and raised_is(event["raised"], "ValueError"), (
            f"execute() with {words} as key must raise ValueError; it {got}"
        )
        assert event["ran"] == 0, f"execute() with {words} as key ran the operation"
    s = Session(candidate, story, ttl=60.0, lease=10.0)
    for key in ("k" * 255, "x", "ключ:é 🙂"):
        [c] = s.start((key, "A"))
        s.finish(c, value_for(c))


def _raised(raised: dict[str, Any] | None) -> str:
    if raised is None:
        return "raised nothing"
    return f"raised {raised['type']}: {raised['message']}"[:200]


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
        "memory", keys=keys, ttl=0.1, lease=1.0, step=0.001, fail_every=7, timeout_s=40
    )
    mib = [round(int(g) / 2**20, 1) for g in result["growth"]]
    story.say("ttl=0.1 s: a new key every 1 ms, so about 100 records are live at any time")
    story.say("every 7th operation fails (its claim must be forgotten too)")
    story.say(f"resident memory growth after 75k/150k/225k/300k keys: {mib} MiB")
    assert mib[-1] < 24, (
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
