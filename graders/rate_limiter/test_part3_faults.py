"""Hidden checks for part 3 of the rate limiter: many processes and threads, skewed
clocks, and Redis misbehaving.

Several sandboxed processes share one real Redis; one is killed with SIGKILL at a
seeded moment. Faults come from a TCP proxy between the candidate's processes and
Redis (latency, blackhole, reset, replies cut), ``CLIENT PAUSE``, a memory limit that
makes Redis answer with errors, and a server killed and restarted on the same port.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rl_redis import (
    Timed,
    WindowBucket,
    direct_client,
    fail_decision_problem,
    say_timed,
    server_now,
    timed_call,
)
from rl_support import call_text, decode

from dskata.chaos.proxy import FaultProxy
from dskata.grading import Candidate, Story, check
from dskata.redis_server import Server
from dskata.sandbox.faults import CandidateFault

Spawn = Callable[..., Candidate]


def _hammer(
    procs: list[tuple[Candidate, int]], key: str, threads: int, seconds: float
) -> list[Any]:
    with ThreadPoolExecutor(len(procs)) as pool:
        futures = [
            pool.submit(
                c.call,
                "redis_hammer",
                handle=h,
                key=key,
                threads=threads,
                seconds=seconds,
                timeout_s=seconds + 20,
            )
            for c, h in procs
        ]
        return [f.result() for f in futures]


@check(
    "RL-REDIS-SHARED",
    part=3,
    dimension="concurrency",
    points=8,
    timeout=90,
    title="Four processes hammering one key together never exceed the shared limit",
)
def test_redis_shared(
    spawn: Spawn,
    story: Story,
    redis_server: Server,
    fault_proxy: FaultProxy,
    rng: random.Random,
) -> None:
    direct = direct_client(redis_server)
    # 2 ms on every request: a read-modify-write from the client cannot help but show.
    # Clocks agree here (RL-REDIS-SKEW is about clocks), and the rate is low, so how
    # much a subtly wrong limiter over-allows does not hang on millisecond timing: the
    # check's verdict on any submission is the same every run.
    rate, burst, seconds, threads, processes = 2.0, 10, 1.5, 2, 4
    fault_proxy.set("latency", delay_s=0.002)
    procs = []
    for i in range(processes):
        proc = spawn(f"process-{i}")
        procs.append((proc, proc.call("redis_new", url=fault_proxy.url, rate=rate, burst=burst)))
    # A fifth process joins in and is killed with SIGKILL at a seeded moment: whatever
    # it had in flight, the survivors' shared limit must still hold.
    victim = spawn("victim")
    victim_handle = victim.call("redis_new", url=fault_proxy.url, rate=rate, burst=burst)
    kill_at = round(rng.uniform(0.2, seconds - 0.4), 3)
    story.say(
        f"{processes} processes, each with "
        f"RedisTokenBucketLimiter(rate={rate:g}, burst={burst}) and {threads} threads calling "
        f"try_acquire('hot') for {seconds} s; every request delayed 2 ms on the way to Redis; "
        f"a fifth process does the same and is killed with SIGKILL after {kill_at} s"
    )

    def doomed() -> None:
        with contextlib.suppress(CandidateFault):
            victim.call(
                "redis_hammer", handle=victim_handle, key="hot", threads=threads,
                seconds=seconds, timeout_s=seconds + 20,
            )  # fmt: skip

    doomed_thread = threading.Thread(target=doomed, daemon=True)
    killer = threading.Timer(kill_at, victim.kill)
    start = server_now(direct)
    doomed_thread.start()
    killer.start()
    results = _hammer(procs, "hot", threads, seconds)
    end = server_now(direct)
    killer.join()
    doomed_thread.join(30)
    allowed = sum(r["allowed"] for r in results)
    calls = sum(r["calls"] for r in results)
    raised = [r["first_error"] for r in results if r["first_error"]]
    limit = burst + rate * (end - start)
    story.say(
        f"{calls} calls in {end - start:.3f} s of server time: {allowed} allowed "
        f"(per process: {[r['allowed'] for r in results]}); the limit was {limit:.2f}"
    )
    assert not raised, f"try_acquire raised {raised[0]['type']}: {raised[0]['message']}"
    assert allowed <= limit + 1e-6, (
        f"{allowed} requests allowed in {end - start:.3f} s, more than burst + rate × elapsed = {limit:.2f}"
    )
    floor = rate * (seconds - kill_at) * 0.5  # after the kill, all refill is the survivors'
    assert allowed >= floor, (
        f"only {allowed} of {calls} requests allowed in {seconds} s of steady demand; "
        f"at least {floor:.0f} should have been"
    )


@check(
    "RL-REDIS-THREADS",
    part=3,
    dimension="concurrency",
    points=4,
    title="Threads sharing one limiter each get the decisions for their own key and cost",
)
def test_redis_threads(candidate: Candidate, story: Story, redis_server: Server) -> None:
    direct = direct_client(redis_server)
    rate, burst = 0.001, 8
    costs = (1, 2, 3, 5, 8, 4)  # each thread's own cost: its own sequence of answers
    handle = candidate.call("redis_new", url=redis_server.url, rate=rate, burst=burst)
    story.say(
        f"RedisTokenBucketLimiter(rate={rate:g}, burst={burst}) shared by {len(costs)} threads; "
        f"thread i calls try_acquire on its own key with cost {costs} until denied twice"
    )
    for trial in range(4):
        plans = [[[f"t{trial}-{i}", c]] * (burst // c + 2) for i, c in enumerate(costs)]
        start = server_now(direct)
        results = candidate.call("redis_threads", handle=handle, plans=plans, timeout_s=20)
        end = server_now(direct)
        for plan, got in zip(plans, results, strict=True):
            model = WindowBucket(rate, burst)
            for (key, cost), raw in zip(plan, got, strict=True):
                if isinstance(raw, dict) and "raised" in raw:
                    r = raw["raised"]
                    raise AssertionError(
                        f"trial {trial}: {call_text(key, cost)} raised {r['type']}: {r['message']}"
                    )
                outcome = decode(raw, call_text(key, cost))
                why = model.judge(key, cost, start, end, outcome)
                if why is not None:
                    story.say(f"trial {trial}: the thread on {key!r} (cost {cost}) got {got}")
                    raise AssertionError(
                        f"trial {trial}: {call_text(key, cost)} from its own thread: {why}"
                    )


@check(
    "RL-REDIS-SKEW",
    part=3,
    dimension="integrity",
    points=6,
    title="Time comes from Redis: clients whose clocks disagree by seconds share the limit",
)
def test_redis_skew(spawn: Spawn, story: Story, redis_server: Server) -> None:
    direct = direct_client(redis_server)
    rate, burst = 1.0, 3
    ahead, behind = spawn("clock-ahead", clock_skew_s=5.0), spawn("clock-behind", clock_skew_s=-5.0)
    story.say(
        f"process P's clock is 5 s ahead, process Q's 5 s behind; both build "
        f"RedisTokenBucketLimiter(rate={rate:g}, burst={burst})"
    )
    procs = {
        "P": (ahead, ahead.call("redis_new", url=redis_server.url, rate=rate, burst=burst)),
        "Q": (behind, behind.call("redis_new", url=redis_server.url, rate=rate, burst=burst)),
    }
    # And once the limiters exist, both clocks jump a further 3 s apart (every clock of
    # the process: wall, monotonic, perf_counter).
    ahead.call("clock_jump", delta_s=3.0)
    behind.call("clock_jump", delta_s=-3.0)
    story.say("then P's clocks jump 3 s forward and Q's 3 s back")
    model = WindowBucket(rate, burst)
    origin = server_now(direct)
    for key, first, second in (("k1", "Q", "P"), ("k2", "P", "Q"), ("k3", "Q", "P")):
        for name, cost in ((first, burst), (second, 1), (second, 1), (first, 1)):
            proc, handle = procs[name]
            t = timed_call(proc, handle, key, cost, direct)
            say_timed(story, t, f"{name}: {key}", cost, origin)
            assert t.raised is None, (
                f"{name}: try_acquire raised {t.raised['type']}: {t.raised['message']}"
            )
            assert t.outcome is not None
            why = model.judge(key, cost, t.start, t.end, t.outcome)
            assert why is None, (
                f"{name}: {call_text(key, cost)} at server t=+{t.start - origin:.4f}s: {why}"
            )


def _fault_round(
    fail_open: bool,
    proc: Candidate,
    story: Story,
    redis_server: Server,
    proxy: FaultProxy,
    rng: random.Random,
) -> None:
    direct = direct_client(redis_server)
    handle = proc.call("redis_new", url=proxy.url, rate=0.01, burst=2, fail_open=fail_open)
    story.say(
        f"RedisTokenBucketLimiter(rate=0.01, burst=2, fail_open={fail_open}) through a fault proxy"
    )

    def pause() -> Callable[[], None]:
        direct.execute_command("CLIENT", "PAUSE", "3000", "ALL")
        return lambda: direct.execute_command("CLIENT", "UNPAUSE")

    def oom() -> Callable[[], None]:
        direct.config_set("maxmemory-policy", "noeviction")
        direct.config_set("maxmemory", "1")
        return lambda: direct.config_set("maxmemory", "0")

    def via_proxy(mode: Any, delay_s: float = 0.0) -> Callable[[], Callable[[], None]]:
        def start() -> Callable[[], None]:
            proxy.set(mode, delay_s=delay_s)
            return proxy.heal

        return start

    faults: list[tuple[str, Callable[[], Callable[[], None]]]] = [
        ("Redis stops answering (blackhole)", via_proxy("blackhole")),
        ("every connection is reset", via_proxy("reset")),
        ("the reply is cut in the middle", via_proxy("cut")),
        ("every request waits 0.6 s (past the 0.25 s timeout)", via_proxy("latency", 0.6)),
        ("CLIENT PAUSE on the server", pause),
        ("Redis answers with an OOM error", oom),
    ]
    rng.shuffle(faults)  # the seeded order: which fault follows which changes by profile
    for i, (what, start) in enumerate(faults):
        key = f"drained-{i}"
        for _ in range(2):
            t = timed_call(proc, handle, key, 1)
            assert t.outcome is not None and t.outcome.allowed, (
                f"a healthy Redis: {call_text(key, 1)} was not allowed"
            )
        # The call under the fault is on a new key: healthy, it would be allowed with
        # remaining=1, which neither fail decision looks like; and allowing it needs a
        # write, so an error reply that only refuses writes (OOM) always shows.
        faulted = f"new-{i}"
        stop = start()
        try:
            t = timed_call(proc, handle, faulted, 1)
            say_timed(story, t, f"[{what}] {faulted}", 1, 0.0)
            why = fail_decision_problem(t, fail_open)
            assert why is None, f"while {what}: try_acquire {why}"
        finally:
            stop()
        time.sleep(0.05)
        # Healed: the drained key stays drained, a new key is allowed.
        after = [timed_call(proc, handle, key, 1) for _ in range(2)]
        fresh = timed_call(proc, handle, f"fresh-{i}", 1)
        story.say(
            f"healed: {call_text(key, 1)} → {after[-1].outcome.words() if after[-1].outcome else after[-1].raised}; "
            f"{call_text(f'fresh-{i}', 1)} → {fresh.outcome.words() if fresh.outcome else fresh.raised}"
        )
        _assert_recovered(after[-1], fresh, what)


def _assert_recovered(drained: Timed, fresh: Timed, what: str) -> None:
    for t in (drained, fresh):
        assert t.raised is None, (
            f"after {what} ended, try_acquire raised {t.raised['type']}: {t.raised['message']}"
        )
    assert drained.outcome is not None and fresh.outcome is not None
    assert not drained.outcome.allowed and fresh.outcome.allowed and fresh.outcome.remaining == 1, (
        f"after {what} ended, decisions were not correct again: a drained key → "
        f"{drained.outcome.words()}, a new key → {fresh.outcome.words()}"
    )


@check(
    "RL-REDIS-FAIL-OPEN",
    part=3,
    dimension="resilience",
    points=5,
    timeout=90,
    title="fail_open=True: every Redis fault allows quickly, without raising; then recovers",
)
def test_redis_fail_open(
    candidate: Candidate,
    story: Story,
    redis_server: Server,
    fault_proxy: FaultProxy,
    rng: random.Random,
) -> None:
    _fault_round(True, candidate, story, redis_server, fault_proxy, rng)


@check(
    "RL-REDIS-FAIL-CLOSED",
    part=3,
    dimension="resilience",
    points=5,
    timeout=90,
    title="fail_open=False: every Redis fault denies quickly, without raising; then recovers",
)
def test_redis_fail_closed(
    candidate: Candidate,
    story: Story,
    redis_server: Server,
    fault_proxy: FaultProxy,
    rng: random.Random,
) -> None:
    _fault_round(False, candidate, story, redis_server, fault_proxy, rng)


@check(
    "RL-REDIS-RESTART",
    part=3,
    dimension="resilience",
    points=5,
    timeout=90,
    title="After Redis restarts (data and loaded scripts lost), decisions are correct again",
)
def test_redis_restart(candidate: Candidate, story: Story, redis_server: Server) -> None:
    direct = direct_client(redis_server)
    handle = candidate.call("redis_new", url=redis_server.url, rate=0.01, burst=3)
    story.say("RedisTokenBucketLimiter(rate=0.01, burst=3)")
    for round_ in range(2):
        for _ in range(3):
            t = timed_call(candidate, handle, "user", 1)
            assert t.outcome is not None and t.outcome.allowed, (
                f"round {round_ + 1}: a fresh bucket did not allow 3 requests ({t.outcome or t.raised})"
            )
        story.say(
            f"round {round_ + 1}: 3 × try_acquire('user') allowed; Redis is killed and restarted (data and scripts lost)"
        )
        redis_server.restart()
        direct = direct_client(redis_server)
        first = timed_call(candidate, handle, "user", 1)
        story.say(
            f"  first call after the restart → {first.outcome.words() if first.outcome else first.raised}"
        )
        assert first.raised is None, (
            f"the first call after a restart raised {first.raised['type']}: {first.raised['message']}"
        )
        model = WindowBucket(0.01, 3)
        if first.outcome is not None and first.outcome.allowed:
            model.judge("user", 1, 0.0, server_now(direct), first.outcome)
        origin = server_now(direct)
        # Until the first denial: the bucket Redis lost is new again, so 3 (or 2) allowed.
        for _ in range(4):
            t = timed_call(candidate, handle, "user", 1, direct)
            say_timed(story, t, "user", 1, origin)
            assert t.raised is None, (
                f"after a restart, try_acquire raised {t.raised['type']}: {t.raised['message']}"
            )
            assert t.outcome is not None
            why = model.judge("user", 1, t.start, t.end, t.outcome)
            assert why is None, f"after a restart that emptied Redis, try_acquire('user') was {why}"
            if not t.outcome.allowed:
                break
        direct.flushall()
