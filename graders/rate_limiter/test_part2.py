"""Hidden checks for part 2 of the rate limiter: thread safety.

Races are widened on purpose: the child runs with a 1 µs switch interval, the
clock yields the GIL on every read, and every trial starts its threads behind a
barrier on a fresh key. Plans come from the seeded ``rng``, so the same profile
always sends the same races.
"""

from __future__ import annotations

import random
from collections import Counter
from functools import cache
from typing import Any

from rl_model import EPS
from rl_support import decode

from dskata.grading import Candidate, Story, check


def _decisions(raw: list[Any], what: str) -> list[Any]:
    out = []
    for item in raw:
        if isinstance(item, dict) and "raised" in item:
            r = item["raised"]
            raise AssertionError(f"{what}: try_acquire raised {r['type']}: {r['message']}")
        out.append(decode(item, what))
    return out


@check(
    "RL-THREADS-FRESH-KEY",
    part=2,
    dimension="concurrency",
    points=8,
    timeout=60,
    title="N threads racing on one fresh key get exactly min(N, burst) allowed",
)
def test_threads_fresh_key(candidate: Candidate, story: Story, rng: random.Random) -> None:
    for burst in (1, 2, 3, 5):
        plans, sizes = [], []
        for trial in range(75):
            n = rng.randint(burst + 1, burst + 6)
            sizes.append(n)
            plans.append([[[f"fresh-{burst}-{trial}", 1]] for _ in range(n)])
        result = candidate.call("race", rate=1.0, burst=burst, plans=plans, timeout_s=20)
        for trial, (n, per_thread) in enumerate(zip(sizes, result, strict=True)):
            outcomes = [d for thread in per_thread for d in _decisions(thread, "race")]
            allowed = sum(o.allowed for o in outcomes)
            remaining = sorted(o.remaining for o in outcomes if o.allowed)
            if allowed != min(n, burst) or remaining != list(range(burst - min(n, burst), burst)):
                story.say(f"TokenBucketLimiter(rate=1, burst={burst}), clock frozen")
                story.say(
                    f"trial {trial}: {n} threads each called try_acquire('fresh-{burst}-{trial}') at once"
                )
                story.say(
                    f"{allowed} were allowed (remaining values {remaining}); expected {min(n, burst)}"
                )
                raise AssertionError(
                    f"{n} threads each called try_acquire on one fresh key at t=0 with burst={burst}; "
                    f"{allowed} were allowed"
                )


def _serial_order_exists(ops: list[list[tuple[int, Any]]], burst: int, rate: float) -> bool:
    """True when some interleaving of the threads' calls (program order kept) explains them all."""

    @cache
    def search(positions: tuple[int, ...], tokens: int) -> bool:
        if all(p == len(ops[t]) for t, p in enumerate(positions)):
            return True
        for t, p in enumerate(positions):
            if p == len(ops[t]):
                continue
            cost, got = ops[t][p]
            if got.allowed:
                fits = tokens >= cost and got.remaining == tokens - cost
                after = tokens - cost
            else:
                retry = (cost - tokens) / rate
                fits = (
                    tokens < cost
                    and got.remaining == tokens
                    and abs(got.retry_after - retry) <= EPS
                )
                after = tokens
            if fits and search((*positions[:t], p + 1, *positions[t + 1 :]), after):
                return True
        return False

    return search(tuple(0 for _ in ops), burst)


@check(
    "RL-THREADS-LINEARIZABLE",
    part=2,
    dimension="concurrency",
    points=6,
    timeout=60,
    title="Concurrent mixed calls match some serial order (remaining, denials)",
)
def test_threads_linearizable(candidate: Candidate, story: Story, rng: random.Random) -> None:
    burst, rate = 4, 2.0
    plans = []
    for trial in range(120):
        keys = [f"t{trial}-a", f"t{trial}-b"]
        plans.append([[[rng.choice(keys), rng.randint(1, 2)] for _ in range(3)] for _ in range(6)])
    result = candidate.call("race", rate=rate, burst=burst, plans=plans, timeout_s=20)
    for trial, (plan, per_thread) in enumerate(zip(plans, result, strict=True)):
        decided = [_decisions(thread, "race") for thread in per_thread]
        for key in sorted({call[0] for thread in plan for call in thread}):
            ops = [
                [(cost, got) for (k, cost), got in zip(thread, outs, strict=True) if k == key]
                for thread, outs in zip(plan, decided, strict=True)
            ]
            if not _serial_order_exists(ops, burst, rate):
                story.say(
                    f"TokenBucketLimiter(rate={rate:g}, burst={burst}), clock frozen; 6 threads at once"
                )
                for i, thread_ops in enumerate(ops):
                    for cost, got in thread_ops:
                        story.say(f"thread {i}: try_acquire({key!r}, cost={cost}) → {got.words()}")
                raise AssertionError(
                    f"trial {trial}: the decisions on {key!r} fit no serial order of the same calls"
                )


@check(
    "RL-THREADS-REFILL",
    part=2,
    dimension="concurrency",
    points=5,
    timeout=60,
    title="Threads racing while the clock advances never exceed burst + rate × elapsed",
)
def test_threads_refill(candidate: Candidate, story: Story, rng: random.Random) -> None:
    rate, burst = 100.0, 5
    for _trial in range(6):
        plans = [[[rng.choice(["x", "y"]), 1] for _ in range(150)] for _ in range(6)]
        result = candidate.call(
            "race_ticking", rate=rate, burst=burst, plans=plans, tick=1e-4, timeout_s=30
        )
        span = float(result["end"]) - float(result["start"])
        allowed: Counter[str] = Counter()
        for thread, outs in zip(plans, result["decisions"], strict=True):
            for (key, _), got in zip(thread, _decisions(outs, "race"), strict=True):
                allowed[key] += got.allowed
        cap = burst + rate * span + 1e-6
        for key, count in sorted(allowed.items()):
            if count > cap:
                story.say(
                    f"TokenBucketLimiter(rate={rate:g}, burst={burst}); 6 threads × 150 calls, clock ticking"
                )
                story.say(
                    f"the clock advanced {span:.4f} s; key {key!r} was allowed {count} times (at most {cap:.1f})"
                )
                raise AssertionError(
                    f"key {key!r} allowed {count} > burst + rate × elapsed = {cap:.1f}"
                )


@check(
    "RL-THREADS-SWEEP",
    part=2,
    dimension="concurrency",
    points=4,
    timeout=60,
    title="Threads using many keys while idle keys are forgotten: nothing breaks",
)
def test_threads_sweep(candidate: Candidate, story: Story, rng: random.Random) -> None:
    rate, burst = 1000.0, 2
    for trial in range(4):
        plans = [
            [[f"{trial}-{t}-{i}" if i % 3 else "shared", 1] for i in range(600)] for t in range(6)
        ]
        result = candidate.call(
            "race_ticking", rate=rate, burst=burst, plans=plans, tick=1e-3, timeout_s=30
        )
        span = float(result["end"]) - float(result["start"])
        shared = 0
        for t, outs in enumerate(result["decisions"]):
            for item in outs:
                if isinstance(item, dict) and "raised" in item:
                    r = item["raised"]
                    story.say(
                        "6 threads × 600 calls on fresh keys and 'shared', keys idle for 2 ms are forgettable"
                    )
                    story.say(f"thread {t}: try_acquire raised {r['type']}: {r['message']}")
                    raise AssertionError(
                        f"try_acquire raised {r['type']}: {r['message']} while keys were being forgotten"
                    )
            shared += sum(
                o.allowed
                for o, (k, _) in zip(_decisions(outs, "race"), plans[t], strict=True)
                if k == "shared"
            )
        cap = burst + rate * span + 1e-6
        assert shared <= cap, f"'shared' allowed {shared} > burst + rate × elapsed = {cap:.1f}"
