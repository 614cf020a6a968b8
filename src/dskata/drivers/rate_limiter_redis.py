"""Driver ops for ``rate_limiter`` part 3: ``RedisTokenBucketLimiter`` in the child.

The child builds the Redis client the contract hands the candidate: synchronous,
socket timeouts set, and redis-py's own retries off — with its defaults a 0.25 s
timeout stretched to ~7 s against a blackholed Redis (measured), which would let
the library, not the candidate, decide how long a call takes.

``skew_clock`` (a driver option, applied before the candidate's module is imported)
moves this process's wall clock by whole seconds: a limiter that takes time from
the client instead of the Redis server disagrees with its peers and over-allows.
"""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Any

from dskata.sandbox.shim import describe_exception

SOCKET_TIMEOUT_S = 0.25


def skew_clock(offset_s: float) -> None:
    """Moves ``time.time`` and ``time.time_ns`` (what a client-side clock reads) by
    ``offset_s``; ``monotonic`` has no meaning across processes, so it is left alone."""
    if not offset_s:
        return
    real_time, real_time_ns = time.time, time.time_ns
    offset_ns = int(offset_s * 1e9)
    time.time = lambda: real_time() + offset_s
    time.time_ns = lambda: real_time_ns() + offset_ns


def make_client(url: str, socket_timeout_s: float = SOCKET_TIMEOUT_S) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


class RedisOps:
    """Mixed into the exercise's ``Driver``; shares its ``limiters`` table."""

    module: ModuleType
    limiters: dict[int, Any]

    def op_redis_new(
        self,
        url: str,
        rate: Any,
        burst: Any,
        prefix: str | None = None,
        fail_open: bool = False,
        socket_timeout_s: float = SOCKET_TIMEOUT_S,
    ) -> int:
        client = make_client(url, socket_timeout_s)
        kwargs: dict[str, Any] = {"fail_open": fail_open}
        if prefix is not None:
            kwargs["prefix"] = prefix
        limiter = self.module.RedisTokenBucketLimiter(client, rate, burst, **kwargs)
        handle = len(self.limiters) + 1
        self.limiters[handle] = limiter
        return handle

    def op_redis_timed(self, handle: int, key: str, cost: Any = None) -> dict[str, Any]:
        """One call, with how long it took in this process (no pipe time included)."""
        from dskata.drivers.rate_limiter import encode

        limiter = self.limiters[handle]
        started = time.perf_counter()
        try:
            decision = limiter.try_acquire(key) if cost is None else limiter.try_acquire(key, cost)
        except BaseException as exc:
            return {"raised": describe_exception(exc), "seconds": time.perf_counter() - started}
        return {"decision": encode(decision), "seconds": time.perf_counter() - started}

    def op_redis_hammer(
        self, handle: int, key: str, threads: int, seconds: float, cost: int = 1
    ) -> dict[str, Any]:
        """``threads`` threads call ``try_acquire(key, cost)`` for ``seconds``; returns counts."""
        limiter = self.limiters[handle]
        lock = threading.Lock()
        counts = {"allowed": 0, "denied": 0, "raised": 0, "calls": 0}
        first_error: list[dict[str, Any]] = []
        barrier = threading.Barrier(threads)

        def work() -> None:
            allowed = denied = raised = 0
            barrier.wait()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    decision = limiter.try_acquire(key, cost)
                except BaseException as exc:
                    raised += 1
                    with lock:
                        if not first_error:
                            first_error.append(describe_exception(exc))
                    continue
                if decision.allowed is True:
                    allowed += 1
                else:
                    denied += 1
            with lock:
                counts["allowed"] += allowed
                counts["denied"] += denied
                counts["raised"] += raised
                counts["calls"] += allowed + denied + raised

        workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return {**counts, "first_error": first_error[0] if first_error else None}

    def op_redis_throughput(
        self, handle: int, keys: int, max_calls: int, max_seconds: float
    ) -> dict[str, Any]:
        limiter = self.limiters[handle]
        names = [f"speed-{i}" for i in range(keys)]
        done = 0
        started = time.perf_counter()
        deadline = started + max_seconds
        while done < max_calls and time.perf_counter() < deadline:
            limiter.try_acquire(names[done % keys])
            done += 1
        return {"calls": done, "seconds": time.perf_counter() - started}
