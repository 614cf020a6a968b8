"""Hidden checks for part 2 of idempotency: many processes sharing one real Redis.

Time here is real and the lease and ttl short (fractions of a second to a few
seconds); every wait leaves at least 0.2 s between what the grader looks at and
the boundary it is looking for, so a correct solution is never caught on the edge.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from idem_model import Model, outcome_of
from idem_support import (
    FAIL_DEADLINE_S,
    Session,
    check_bad_keys,
    check_bad_limits,
    raised_words,
    value_for,
)

from dskata.chaos.proxy import FaultProxy
from dskata.grading import Candidate, Story, check
from dskata.grading.api import raised_is
from dskata.grading.services import direct_client
from dskata.redis_server import Server

Spawn = Callable[..., Candidate]
RETRY_TOLERANCE_S = 0.25


def open_session(
    proc: Candidate,
    story: Story,
    url: str,
    name: str,
    *,
    ttl: float,
    lease: float,
    prefix: str,
    model: Model | None = None,
) -> Session:
    handle = proc.call("redis_new", url=url, ttl=ttl, lease=lease, prefix=prefix)
    story.say(
        f"process {name}: RedisIdempotencyLayer(ttl={ttl:g}, lease={lease:g}, prefix={prefix!r})"
    )
    return Session(
        proc, story, ttl, lease, handle=handle, real=True,
        retry_tolerance=RETRY_TOLERANCE_S, name=name, model=model,
    )  # fmt: skip


def assert_keys_under(direct: redis.Redis, prefix: str) -> None:
    stray = [k for k in direct.keys("*") if not k.decode(errors="replace").startswith(prefix)]
    assert not stray, f"keys written outside prefix {prefix!r}: {stray[:5]}"


@check(
    "IDEM-REDIS-RULES",
    part=2,
    dimension="correctness",
    points=8,
    timeout=60,
    title="Replays, KeyReused, InProgress, failures and cancellations work as in part 1, on Redis",
)
def test_redis_rules(candidate: Candidate, story: Story, redis_server: Server) -> None:
    prefix = "grader:rules:"
    s = open_session(candidate, story, redis_server.url, "A", ttl=3600, lease=3, prefix=prefix)
    [c] = s.start(("charge-42", "A"))
    s.start(("charge-42", "A"))  # InProgress, about 3 s left
    s.start(("charge-42", "B"))  # KeyReused
    s.advance(1.0)
    s.start(("charge-42", "A"))  # InProgress, about 2 s left
    s.finish(c, value_for(c))
    s.start(("charge-42", "A"))
    s.mutate(s.returned[-1])
    s.start(("charge-42", "A"))
    s.start(("charge-42", "B"))
    for ending in ("fail", "cancel"):
        [c] = s.start((f"refund-{ending}", "A"))
        getattr(s, ending)(c)
        [c] = s.start((f"refund-{ending}", "B"))  # the key is new: any payload runs
        s.finish(c, value_for(c))
        s.start((f"refund-{ending}", "B"))
    ran = s.start(*[("pay-1", "A")] * 6)
    s.finish(ran[0], value_for(ran[0]))
    for n, result in enumerate((None, 0, False, "", [])):
        [c] = s.start((f"scalar-{n}", "A"))
        s.finish(c, result)
        s.start((f"scalar-{n}", "A"))
    s.start(("k" * 255, "A"))
    s.start(("é" * 255, "A"))
    assert_keys_under(direct_client(redis_server), prefix)


@check(
    "IDEM-REDIS-VALIDATION",
    part=2,
    dimension="correctness",
    points=3,
    timeout=60,
    title="Bad keys, ttl and lease raise ValueError here too; nothing reaches Redis",
)
def test_redis_validation(candidate: Candidate, story: Story, redis_server: Server) -> None:
    url = redis_server.url
    check_bad_limits(
        story,
        "RedisIdempotencyLayer",
        lambda **kw: candidate.attempt("redis_construct", url=url, **kw),
    )
    prefix = "grader:validation:"
    handle = candidate.call("redis_new", url=url, ttl=3600.0, lease=30.0, prefix=prefix)
    check_bad_keys(candidate, story, handle, timeout=FAIL_DEADLINE_S)
    written = direct_client(redis_server).keys("*")
    assert not written, f"rejected keys still wrote to Redis: {written[:5]}"


@check(
    "IDEM-REDIS-PROCESSES",
    part=2,
    dimension="correctness",
    points=6,
    timeout=60,
    title="A claim, a conflict and a result made in one process are seen by the others",
)
def test_redis_processes(spawn: Spawn, story: Story, redis_server: Server) -> None:
    model = Model(3600.0, 30.0, RETRY_TOLERANCE_S)
    a, b, c = (
        open_session(spawn(f"process-{n}"), story, redis_server.url, n, ttl=3600, lease=30,
                     prefix="grader:procs:", model=model)
        for n in "ABC"
    )  # fmt: skip
    [first] = a.start(("order-1", "A"))
    b.start(("order-1", "A"))
    c.start(("order-1", "B"))
    a.finish(first, value_for(first))
    b.start(("order-1", "A"))
    c.start(("order-1", "B"))
    [other] = b.start(("order-2", "A"))
    b.fail(other)
    [other] = c.start(("order-2", "A"))
    c.finish(other, value_for(other, 2))
    a.start(("order-2", "A"))


@check(
    "IDEM-REDIS-RACE",
    part=2,
    dimension="concurrency",
    points=10,
    timeout=90,
    title="Four processes racing on the same keys run each operation exactly once",
)
def test_redis_race(
    spawn: Spawn, story: Story, redis_server: Server, fault_proxy: FaultProxy
) -> None:
    keys, processes, hold_s = 16, 4, 0.05
    procs = []
    for i in range(processes):
        proc = spawn(f"process-{i}")
        handle = proc.call(
            "redis_new", url=fault_proxy.url, ttl=3600.0, lease=30.0, prefix="grader:race:"
        )
        # As many calls at once as in the race, on keys of their own: each process opens
        # its connections now, so the race measures claims, not connecting under load.
        warm = [[f"warm-{i}-{k}", f"warm-{i}-{k}", "A", 0.0] for k in range(keys)]
        proc.call("race", handle=handle, calls=warm, start_at=0.0, timeout=10.0, timeout_s=30)
        procs.append((proc, handle))
    # 3 ms on every request to Redis: a check-then-claim split over two round trips
    # leaves every racer a window, every run.
    fault_proxy.set("latency", delay_s=0.003)
    story.say(
        f"{processes} processes, each calling execute() on the same {keys} keys at the same "
        f"moment (all concurrently within the process); each operation takes {hold_s} s; "
        "every request delayed 3 ms on the way to Redis"
    )
    start_at = time.time() + 1.0

    def race(n: int) -> dict[str, Any]:
        proc, handle = procs[n]
        calls = [[f"p{n}-k{k}", f"key-{k}", "A", hold_s] for k in range(keys)]
        return dict(
            proc.call("race", handle=handle, calls=calls, start_at=start_at, timeout=10.0,
                      timeout_s=30)
        )  # fmt: skip

    with ThreadPoolExecutor(processes) as pool:
        results = list(pool.map(race, range(processes)))
    fault_proxy.heal()
    for k in range(keys):
        events = {n: results[n][f"p{n}-k{k}"] for n in range(processes)}
        ran = [n for n, e in events.items() if e["ran"]]
        words = {n: _race_words(e) for n, e in events.items()}
        if len(ran) != 1 or any(w is None for w in words.values()):
            for n in range(processes):
                story.say(f"key-{k}: process {n} {words[n] or _race_words(events[n], True)}")
        assert len(ran) <= 1, (
            f"key-{k}: the operation ran {len(ran)} times (processes {ran}) for one request"
        )
        assert len(ran) == 1, f"key-{k}: no process ran the operation, yet none saw a result"
        bad = [n for n, w in words.items() if w is None]
        assert not bad, f"key-{k}: process {bad[0]} {_race_words(events[bad[0]], True)}"
    # Afterwards every key replays the one result, in every process.
    proc, handle = procs[0]
    for k in range(keys):
        winner = next(n for n in range(processes) if results[n][f"p{n}-k{k}"]["ran"])
        events = proc.call("start", handle=handle, calls=[[f"after-{k}", f"key-{k}", "A"]],
                           timeout=FAIL_DEADLINE_S)  # fmt: skip
        got = outcome_of(events[f"after-{k}"])
        want = {"by": f"p{winner}-k{k}"}
        if got.kind != "replay" or got.value != want:
            story.say(
                f"key-{k}: after the race, execute() {got.words()}; expected a replay of {want}"
            )
            raise AssertionError(
                f"key-{k}: after the race a new request {got.words()}, not the replay of {want}"
            )


def _race_words(event: dict[str, Any], wrong: bool = False) -> str | None:
    """Plain words for a racer's answer; None when the contract forbids it."""
    state = event.get("state")
    if state == "returned" and event["ran"] == 1:
        return "ran the operation"
    if state == "returned" and event["ran"] == 0:
        return f"replayed {event.get('value')}"
    if state == "raised" and raised_is(event["raised"], "InProgress"):
        return "raised InProgress"
    if not wrong:
        return None
    return outcome_of(event).words()


@check(
    "IDEM-REDIS-CRASH",
    part=2,
    dimension="resilience",
    points=6,
    timeout=60,
    title="A process killed while holding a claim frees the key after its lease, not before",
)
def test_redis_crash(spawn: Spawn, story: Story, redis_server: Server) -> None:
    lease = 1.0
    model = Model(3600.0, lease, RETRY_TOLERANCE_S)
    a = open_session(spawn("A"), story, redis_server.url, "A", ttl=3600, lease=lease,
                     prefix="grader:crash:", model=model)  # fmt: skip
    b = open_session(spawn("B"), story, redis_server.url, "B", ttl=3600, lease=lease,
                     prefix="grader:crash:", model=model)  # fmt: skip
    claimed = time.monotonic()
    a.start(("payout-1", "A"))
    a.candidate.kill()
    story.say("process A is killed with SIGKILL while its operation runs")
    time.sleep(0.2)
    b.start(("payout-1", "A"))  # InProgress: the lease still holds
    time.sleep(max(0.0, claimed + lease - 0.3 - time.monotonic()))
    b.start(("payout-1", "A"))  # still InProgress; asking must not extend the lease
    time.sleep(max(0.0, claimed + lease + 0.3 - time.monotonic()))
    [c] = b.start(("payout-1", "A"))  # the lease is over: B takes the key
    b.finish(c, value_for(c))
    b.start(("payout-1", "A"))


@check(
    "IDEM-REDIS-FENCING",
    part=2,
    dimension="integrity",
    points=8,
    timeout=60,
    title="An executor whose lease expired cannot overwrite or release the claim that replaced it",
)
def test_redis_fencing(
    spawn: Spawn, story: Story, redis_server: Server, fault_proxy: FaultProxy
) -> None:
    lease = 0.6
    procs = {n: spawn(n) for n in "ABC"}
    cases = [(e, "ABC") for e in ("finish-after", "finish", "fail", "cancel")]
    # The same, with the stale and the fresh executor in one process and one layer.
    cases += [(e, "AAC") for e in ("finish-after", "finish", "fail")]
    # Every case claims its key first (own prefix, own layers), then one wait lets all
    # those leases run out together: one lease of waiting, not one per case.
    prepared = []
    for i, (ending, where) in enumerate(cases, 1):
        model = Model(3600.0, lease, RETRY_TOLERANCE_S)
        sessions = {
            n: open_session(procs[n], story, redis_server.url, f"{n}{i}", ttl=3600, lease=lease,
                            prefix=f"grader:fence:{i}:", model=model)
            for n in dict.fromkeys(where)
        }  # fmt: skip
        a, b, c = (sessions[n] for n in where)
        [stale] = a.start(("job", "A"))
        prepared.append((i, ending, where, a, b, c, stale))
    time.sleep(lease + 0.25)
    story.say(f"… {lease + 0.25:g} s later: every claim above has outlived its lease")
    for i, ending, where, a, b, c, stale in prepared:
        story.say(
            f"case {i}: the stale executor's operation ends with {ending!r}"
            + (" (stale and fresh executor in one process)" if where[0] == where[1] else "")
        )
        [fresh] = b.start(("job", "A"))
        if ending == "finish-after":
            b.finish(fresh, value_for(fresh, 2))
            a.finish(stale, value_for(stale, 1))
        else:
            if ending == "finish":
                a.finish(stale, value_for(stale, 1))
            else:
                getattr(a, ending)(stale)
            c.start(("job", "A"))  # the fresh claim still holds
            b.finish(fresh, value_for(fresh, 2))
        c.start(("job", "A"))  # replays the fresh result
    _late_write_cases(procs, story, redis_server, fault_proxy)


# A stale executor's write that checks the token in one request and writes in the next
# (GET, then MULTI … EXEC without WATCH) is fenced only if nobody takes the key over in
# between. The proxy opens that gap: it lets the executor's first request through at
# once and holds every later one LATE_WRITE_S, so a read made while the lease holds is
# followed by a write that lands after another process took the key over.
LATE_LEASE_S = 1.0
LATE_READ_BEFORE_S = 0.3  # the stale executor's operation ends this long before its lease
LATE_TAKEOVER_AFTER_S = 0.15  # the takeover comes this long after the lease ran out
LATE_WRITE_S = 0.8  # its later requests arrive this long after they were sent


def _late_write_cases(
    procs: dict[str, Candidate], story: Story, redis_server: Server, fault_proxy: FaultProxy
) -> None:
    for n, ending in enumerate(("finish", "fail"), 1):
        model = Model(3600.0, LATE_LEASE_S, RETRY_TOLERANCE_S)
        prefix = f"grader:fence:late:{n}:"
        a = open_session(procs["A"], story, fault_proxy.url, f"A-late{n}", ttl=3600,
                         lease=LATE_LEASE_S, prefix=prefix, model=model)  # fmt: skip
        b, c = (
            open_session(procs[p], story, redis_server.url, f"{p}-late{n}", ttl=3600,
                         lease=LATE_LEASE_S, prefix=prefix, model=model)
            for p in "BC"
        )  # fmt: skip
        claimed = time.monotonic()
        [stale] = a.start(("job", "A"))
        time.sleep(max(0.0, claimed + LATE_LEASE_S - LATE_READ_BEFORE_S - time.monotonic()))
        fault_proxy.set("latency", delay_s=LATE_WRITE_S, spare=1)
        story.say(
            f"A's first request to Redis from now goes through at once; every later one "
            f"arrives {LATE_WRITE_S:g} s after it was sent"
        )
        if ending == "finish":
            # Its record may have landed in time (one script call) or not (a write that
            # came late, or timed out): both are right.
            a.finish(stale, value_for(stale, 1), recorded=None)
        else:
            a.fail(stale)
        time.sleep(max(0.0, claimed + LATE_LEASE_S + LATE_TAKEOVER_AFTER_S - time.monotonic()))
        fresh = b.start(("job", "A"))  # the lease ran out: B takes over (or replays A's)
        # Whatever A sent late has reached Redis by now, and B's lease still holds.
        landed = claimed + LATE_LEASE_S - LATE_READ_BEFORE_S + LATE_WRITE_S + 0.2
        time.sleep(max(0.0, landed - time.monotonic()))
        fault_proxy.heal()
        story.say("… A's late requests have all reached Redis")
        c.start(("job", "A"))  # B's claim (or A's record) still holds
        if fresh:
            b.finish(fresh[0], value_for(fresh[0], 2))
            c.start(("job", "A"))


@contextlib.contextmanager
def _watch_expiry(direct: redis.Redis, prefix: str) -> Iterator[list[str]]:
    """Polls every key under ``prefix``; collects any seen without an expiry."""
    seen: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for key in direct.scan_iter(match=f"{prefix}*"):
                if direct.pttl(key) == -1 and key.decode(errors="replace") not in seen:
                    seen.append(key.decode(errors="replace"))
            time.sleep(0.002)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join(5)


@check(
    "IDEM-REDIS-EXPIRY",
    part=2,
    dimension="integrity",
    points=6,
    timeout=60,
    title="Every key expires on the server: claims after the lease, records ttl after completion",
)
def test_redis_expiry(
    candidate: Candidate, story: Story, redis_server: Server, fault_proxy: FaultProxy
) -> None:
    # The lease leaves room for a completion of several round trips at 0.1 s each.
    ttl, lease, prefix = 2.0, 1.5, "grader:expiry:"
    direct = direct_client(redis_server)
    # 0.1 s on every request: a key written by one command and given its expiry by
    # the next lives long enough without one for the grader to see it.
    fault_proxy.set("latency", delay_s=0.1)
    s = open_session(candidate, story, fault_proxy.url, "A", ttl=ttl, lease=lease, prefix=prefix)
    with _watch_expiry(direct, prefix) as never:
        [c] = s.start(("invoice", "A"))
        time.sleep(0.15)
    assert not never, (
        f"key {never[0]} existed without an expiry: had the process died then, it would never go"
    )
    pttls = {k.decode(): direct.pttl(k) for k in direct.scan_iter(match=f"{prefix}*")}
    story.say(f"while the operation runs, keys and their PTTL (ms): {pttls}")
    assert pttls, f"no key under prefix {prefix!r} while a claim is held"
    assert all(0 < p <= lease * 1000 for p in pttls.values()), (
        f"a claim must expire within the lease ({lease * 1000:.0f} ms); PTTLs {pttls}"
    )
    s.advance(0.4)  # the operation takes a while: the record's ttl counts from its end
    with _watch_expiry(direct, prefix) as never:
        s.finish(c, value_for(c))  # still 0.1 s per request: a gap shows here too
        time.sleep(0.15)
    fault_proxy.heal()
    assert not never, (
        f"key {never[0]} existed without an expiry: had the process died then, it would never go"
    )
    pttls = {k.decode(): direct.pttl(k) for k in direct.scan_iter(match=f"{prefix}*")}
    story.say(f"just after completion, keys and their PTTL (ms): {pttls}")
    assert pttls and all(p > 0 for p in pttls.values()), f"record keys must expire; PTTLs {pttls}"
    longest = max(pttls.values())
    # Completion came over 0.55 s after the claim: a ttl counted from the claim shows.
    assert ttl * 1000 - 400 <= longest <= ttl * 1000, (
        f"the record must live ttl = {ttl * 1000:.0f} ms from completion; its PTTL was {longest} ms"
    )
    s.advance(0.5)
    s.start(("invoice", "A"))  # replay, well inside the ttl
    s.advance(ttl - 0.5 + 0.3)
    [c] = s.start(("invoice", "A"))  # the record expired: new again
    s.finish(c, value_for(c, 2))
    assert_keys_under(direct, prefix)


FAULTS_BEFORE = ("blackhole", "reset", "cut", "pause")


# Not "OOM": Redis 6.2 refuses only a script's first write when out of memory, so
# whether a claim is made then depends on the order of commands inside the script.
def _inject(fault: str, proxy: FaultProxy, direct: redis.Redis) -> str:
    if fault == "pause":
        direct.execute_command("CLIENT", "PAUSE", "2000", "ALL")
        return "Redis is paused (CLIENT PAUSE 2000) and answers nobody"
    proxy.set(fault)  # type: ignore[arg-type]
    return {
        "blackhole": "Redis stops answering (connections accepted, nothing comes back)",
        "reset": "every connection to Redis is reset",
        "cut": "Redis replies are cut off in the middle",
    }[fault]


def _heal(fault: str, proxy: FaultProxy, direct: redis.Redis) -> None:
    proxy.heal()
    direct.execute_command("CLIENT", "UNPAUSE")


@check(
    "IDEM-REDIS-FAIL-CLOSED",
    part=2,
    dimension="resilience",
    points=8,
    timeout=90,
    title="When Redis fails before the claim, the Redis error propagates and nothing runs",
)
def test_redis_fail_closed(
    candidate: Candidate, story: Story, redis_server: Server, fault_proxy: FaultProxy
) -> None:
    direct = direct_client(redis_server)
    handle = candidate.call(
        "redis_new", url=fault_proxy.url, ttl=3600.0, lease=30.0, prefix="grader:closed:"
    )
    for n, fault in enumerate(FAULTS_BEFORE):
        _warm_up(candidate, handle, f"warm-{n}")
        what = _inject(fault, fault_proxy, direct)
        story.say(f"{what}; then execute('order-{n}', 'A')")
        began = time.monotonic()
        events = candidate.call(
            "start", handle=handle, calls=[[f"call-{n}", f"order-{n}", "A"]],
            timeout=FAIL_DEADLINE_S + 0.5, timeout_s=10,
        )  # fmt: skip
        took = time.monotonic() - began
        _heal(fault, fault_proxy, direct)
        event = events[f"call-{n}"]
        story.say(f"↳ {_describe(event)} after {took:.2f} s")
        assert event["ran"] == 0, f"{what}: the operation ran although the claim could not be made"
        assert event["state"] == "raised" and raised_is(event["raised"], "RedisError"), (
            f"{what}: execute() must raise the Redis error; it {_describe(event)}"
        )
        assert took <= FAIL_DEADLINE_S + 0.3, (
            f"{what}: execute() took {took:.2f} s to fail (at most {FAIL_DEADLINE_S} s)"
        )
    _warm_up(candidate, handle, "after")


def _warm_up(candidate: Candidate, handle: int, key: str) -> None:
    """A new key must run: a working connection, scripts loaded. After a fault, the
    first call may still meet the connection that broke (the statement allows it)."""
    for attempt in ("1", "2"):
        events = candidate.call("start", handle=handle, calls=[[key + attempt, key + attempt, "A"]],
                                timeout=FAIL_DEADLINE_S)  # fmt: skip
        if events[key + attempt]["state"] == "running":
            return
    raise AssertionError(
        f"with Redis healthy, a new key did not run its operation twice in a row: "
        f"{outcome_of(events[key + attempt]).words()}"
    )


def _describe(event: dict[str, Any]) -> str:
    state = event.get("state")
    if state == "raised":
        return raised_words(event["raised"])
    if state == "running":
        return "ran the operation"
    if state == "pending":
        return "had not answered"
    return outcome_of(event).words()


FAULTS_AFTER = ("blackhole", "reset")


@check(
    "IDEM-REDIS-RECORD-FAULT",
    part=2,
    dimension="resilience",
    points=8,
    timeout=90,
    title="When Redis fails while recording, the caller still gets the result; the claim lapses",
)
def test_redis_record_fault(
    spawn: Spawn, story: Story, redis_server: Server, fault_proxy: FaultProxy
) -> None:
    direct = direct_client(redis_server)
    lease = 1.0
    a_proc, b_proc = spawn("A"), spawn("B")
    for fault in FAULTS_AFTER:
        story.begin()
        model = Model(3600.0, lease, RETRY_TOLERANCE_S)
        prefix = f"grader:record:{fault}:"
        a = open_session(a_proc, story, fault_proxy.url, "A", ttl=3600, lease=lease,
                         prefix=prefix, model=model)  # fmt: skip
        b = open_session(b_proc, story, redis_server.url, "B", ttl=3600, lease=lease,
                         prefix=prefix, model=model)  # fmt: skip
        claimed = time.monotonic()
        [c] = a.start(("capture", "A"))
        what = _inject(fault, fault_proxy, direct)
        story.say(f"A: {what}")
        began = time.monotonic()
        a.finish(c, value_for(c), recorded=False)  # the caller gets the value anyway
        took = time.monotonic() - began
        _heal(fault, fault_proxy, direct)
        assert took <= FAIL_DEADLINE_S + 0.3, (
            f"{what}: execute() returned the result only after {took:.2f} s"
        )
        # Redis never got the result: B sees A's claim until its lease ends.
        b.start(("capture", "A"))  # InProgress: A's claim lapses only after the lease
        time.sleep(max(0.0, claimed + lease + 0.3 - time.monotonic()))
        [again] = b.start(("capture", "A"))  # the documented at-least-once edge
        b.finish(again, value_for(again, 2))
        # A failing operation while Redis fails: its own exception, not the Redis error.
        [c] = a.start(("refund", "A"))
        _inject(fault, fault_proxy, direct)
        a.fail(c)
        _heal(fault, fault_proxy, direct)


@check(
    "IDEM-REDIS-SCRIPTS-LOST",
    part=2,
    dimension="resilience",
    points=4,
    timeout=60,
    title="Keeps working after Redis lost its loaded scripts (SCRIPT FLUSH, as after a restart)",
)
def test_redis_scripts_lost(candidate: Candidate, story: Story, redis_server: Server) -> None:
    direct = direct_client(redis_server)
    s = open_session(candidate, story, redis_server.url, "A", ttl=3600, lease=30,
                     prefix="grader:flush:")  # fmt: skip
    for n in range(3):
        [c] = s.start((f"order-{n}", "A"))
        s.finish(c, value_for(c))
        s.start((f"order-{n}", "A"))
        direct.script_flush()
        story.say("SCRIPT FLUSH: Redis forgets every loaded script")
