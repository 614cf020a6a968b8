"""The rate-limiter reference against `limits` and `aiolimiter`, on one workload each.

Like with like: every contender makes the same non-blocking per-key decision (allow
or deny now, never wait) with the same burst and long-run rate — a token bucket of
``burst`` 10 refilled at 5 per second is configured as `limits`' ``10 per 2 seconds``
and as aiolimiter's ``AsyncLimiter(max_rate=10, time_period=2)`` (a leaky bucket that
drains 5 per second: the same meter). `limits` has no token-bucket strategy; its three
strategies (fixed window, moving window, sliding-window counter) all answer the same
question for the same parameters, so all three are measured. aiolimiter only has a
blocking ``acquire``; its non-blocking use is ``has_capacity()`` then ``acquire()``,
which then returns without waiting — that is what is timed, one limiter per key.

The reference does more per call than the libraries: it returns a ``Decision`` with
``remaining`` and an exact ``retry_after``, where ``limits.hit`` returns a bool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .common import load_reference, missing
from .timing import Contender, SelfTimed, Trial, Workload, timed, timed_async

RATE = 5.0
BURST = 10


def _keys(ops: int, n_keys: int) -> list[str]:
    return [f"user:{i % n_keys}" for i in range(ops)]


def _reference_run(limiter: Any, seq: list[str]) -> int:
    allowed = 0
    acquire = limiter.try_acquire
    for key in seq:
        if acquire(key).allowed:
            allowed += 1
    return allowed


def _limits_run(strategy: Any, item: Any, seq: list[str]) -> int:
    allowed = 0
    hit = strategy.hit
    for key in seq:
        if hit(item, key):
            allowed += 1
    return allowed


def _strategies() -> list[tuple[str, Any]]:
    from limits import strategies

    return [
        ("FixedWindowRateLimiter", strategies.FixedWindowRateLimiter),
        ("MovingWindowRateLimiter", strategies.MovingWindowRateLimiter),
        ("SlidingWindowCounterRateLimiter", strategies.SlidingWindowCounterRateLimiter),
    ]


def in_memory(scale: float) -> Workload | str:
    if gone := missing("limits"):
        return f"not installed: {', '.join(gone)} (pip install '.[bench]')"
    from limits import RateLimitItemPerSecond
    from limits.storage import MemoryStorage

    ref = load_reference("rate_limiter", "rate_limiter.py")
    ops = max(1000, int(100_000 * scale))
    n_keys = 1000
    seq = _keys(ops, n_keys)
    item = RateLimitItemPerSecond(BURST, int(BURST / RATE))

    def reference() -> Callable[[], int]:
        limiter = ref.TokenBucketLimiter(RATE, BURST)
        return lambda: _reference_run(limiter, seq)

    contenders = [Contender("reference TokenBucketLimiter", timed(reference))]
    for label, cls in _strategies():

        def setup(cls: Any = cls) -> Callable[[], int]:
            strategy = cls(MemoryStorage())
            return lambda: _limits_run(strategy, item, seq)

        contenders.append(Contender(f"limits {label} + MemoryStorage", timed(setup)))
    return Workload(
        title="rate limiter, in memory: reference vs limits",
        description=(
            f"{ops:,} calls (try_acquire / hit) round-robin over {n_keys:,} keys, "
            f"burst {BURST} refilled at {RATE:g}/s (limits: {BURST} per "
            f"{int(BURST / RATE)} s), cost 1, real monotonic clock, one thread, fresh "
            "limiter per round"
        ),
        ops=ops,
        contenders=tuple(contenders),
        notes=(
            "the reference returns Decision(allowed, remaining, retry_after); limits.hit a bool",
        ),
    )


def asyncio_limiter(scale: float) -> Workload | str:
    if gone := missing("aiolimiter"):
        return f"not installed: {', '.join(gone)} (pip install '.[bench]')"
    from aiolimiter import AsyncLimiter

    ref = load_reference("rate_limiter", "rate_limiter.py")
    ops = max(1000, int(100_000 * scale))
    n_keys = 1000
    seq = _keys(ops, n_keys)

    def reference() -> Callable[[], Awaitable[int]]:
        limiter = ref.TokenBucketLimiter(RATE, BURST)

        async def call() -> int:
            return _reference_run(limiter, seq)

        return call

    def aiolimiter() -> Callable[[], Awaitable[int]]:
        limiters: dict[str, AsyncLimiter] = {}

        async def call() -> int:
            allowed = 0
            for key in seq:
                limiter = limiters.get(key)
                if limiter is None:
                    limiter = limiters[key] = AsyncLimiter(BURST, BURST / RATE)
                if limiter.has_capacity():
                    await limiter.acquire()  # has capacity: returns without waiting
                    allowed += 1
            return allowed

        return call

    return Workload(
        title="rate limiter, in asyncio: reference vs aiolimiter",
        description=(
            f"{ops:,} non-blocking decisions round-robin over {n_keys:,} keys inside one "
            f"asyncio task, burst {BURST} refilled at {RATE:g}/s (aiolimiter: one "
            f"AsyncLimiter({BURST}, {BURST / RATE:g}) per key, has_capacity() then "
            "acquire()), fresh limiters per round"
        ),
        ops=ops,
        contenders=(
            Contender("reference TokenBucketLimiter (sync call in a task)", timed_async(reference)),
            Contender("aiolimiter AsyncLimiter per key", timed_async(aiolimiter)),
        ),
        notes=(
            "aiolimiter's acquire() blocks when empty; a blocking comparison would time "
            "the sleeps, not the limiter, so the non-blocking path is compared",
        ),
    )


def with_server_time(client: Any, setup: Callable[[], Callable[[], int]]) -> SelfTimed:
    """A timed contender that also reads how long Redis itself spent per script call
    (the setup must reset the server's statistics)."""
    run = timed(setup)

    def measured() -> Trial:
        trial = run()
        stats = client.info("commandstats")
        calls = sum(v["calls"] for k, v in stats.items() if k.startswith("cmdstat_eval"))
        usec = sum(v["usec"] for k, v in stats.items() if k.startswith("cmdstat_eval"))
        return Trial(trial.seconds, trial.checksum, usec / calls if calls else None)

    return measured


def redis_workloads(scale: float, host: str, port: int) -> Workload | str:
    if gone := missing("limits", "redis"):
        return f"not installed: {', '.join(gone)} (pip install '.[bench]')"
    import redis
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage

    ref = load_reference("rate_limiter", "rate_limiter.py")
    ops = max(200, int(10_000 * scale))
    n_keys = 100
    seq = _keys(ops, n_keys)
    item = RateLimitItemPerSecond(BURST, int(BURST / RATE))
    client = redis.Redis(host=host, port=port, socket_timeout=5, socket_connect_timeout=5)
    url = f"redis://{host}:{port}/0"

    def fresh() -> None:
        client.flushdb()
        client.config_resetstat()

    def reference() -> Callable[[], int]:
        fresh()
        limiter = ref.RedisTokenBucketLimiter(client, RATE, BURST)
        return lambda: _reference_run(limiter, seq)

    contenders = [
        Contender("reference RedisTokenBucketLimiter", with_server_time(client, reference))
    ]
    for label, cls in _strategies():
        strategy = cls(RedisStorage(url, socket_timeout=5))

        def setup(strategy: Any = strategy) -> Callable[[], int]:
            fresh()
            return lambda: _limits_run(strategy, item, seq)

        name = f"limits {label} + RedisStorage"
        contenders.append(Contender(name, with_server_time(client, setup)))
    return Workload(
        title="rate limiter, through Redis: reference part 3 vs limits RedisStorage",
        description=(
            f"{ops:,} calls round-robin over {n_keys} keys against the kit's own Redis "
            f"({host}:{port}, loopback TCP), burst {BURST} refilled at {RATE:g}/s, one "
            "client and one thread, database flushed before each round"
        ),
        ops=ops,
        contenders=tuple(contenders),
        notes=(
            "every contender makes one script call (EVALSHA) per decision; the reference "
            "reads the server's TIME, limits sends the client's time",
            "redis µs/call: time Redis spent inside the script calls (INFO commandstats), "
            "the rest of a call is the client and the loopback round trip",
        ),
    )
