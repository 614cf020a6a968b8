"""Driver ops for ``rate_limiter`` part 3: ``RedisTokenBucketLimiter`` in the child.

The child builds the Redis client the contract hands the candidate (synchronous;
see ``_common.make_client`` for its timeouts and why redis-py's retries are off).

``skew_clock`` (a driver option, applied before the candidate's module is imported)
moves this process's wall clock by whole seconds: a limiter that takes time from
the client instead of the Redis server disagrees with its peers and over-allows.
"""

from __future__ import annotations

import sys
import threading
import time
from types import ModuleType
from typing import Any

from dskata.drivers._common import SOCKET_TIMEOUT_S, make_client
from dskata.drivers._schemas import (
    INT,
    NULL,
    NUMBER,
    RAISED,
    Schema,
    array,
    nullable,
    one_of,
    record,
)
from dskata.sandbox.shim import describe_exception

_offset = [0.0]  # seconds added to every clock of this process


def skew_clock(offset_s: float) -> None:
    """Moves this process's clocks by ``offset_s`` (``jump_clock`` moves them again).

    ``time.time``/``time_ns`` are what a client-side wall clock reads; ``monotonic``
    and ``perf_counter`` move too, so a limiter that anchors the server's time once
    and then adds a local monotonic interval sees the jump as well.
    """
    _offset[0] = float(offset_s)
    originals = [
        (name, getattr(time, name))
        for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter")
    ]
    for name, real in originals:
        if name.endswith("_ns"):
            setattr(time, name, lambda real=real: real() + int(_offset[0] * 1e9))
        else:
            setattr(time, name, lambda real=real: real() + _offset[0])


def jump_clock(delta_s: float) -> None:
    """Moves the clocks ``skew_clock`` installed; a process started without a skew has
    its real clocks and refuses (a grader bug, not the candidate's)."""
    if time.time.__name__ != "<lambda>":
        raise RuntimeError("jump_clock needs the process started with clock_skew_s")
    _offset[0] += delta_s


def redis_replies(decision: Schema) -> dict[str, Schema]:
    """What the Redis ops return (``decision``: one encoded try_acquire answer)."""
    answer = one_of(decision, record({"raised": RAISED}))
    return {
        "redis_new": INT,
        "clock_jump": NULL,
        "redis_threads": array(array(answer)),
        "redis_timed": one_of(
            record({"raised": RAISED, "seconds": NUMBER}),
            record({"decision": decision, "seconds": NUMBER}),
        ),
        "redis_hammer": record(
            {name: INT for name in ("allowed", "denied", "raised", "calls")}
            | {"first_error": nullable(RAISED)}
        ),
        "redis_throughput": record({"calls": INT, "allowed": INT, "seconds": NUMBER}),
    }


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

    def op_clock_jump(self, delta_s: float) -> None:
        """Moves this process's clocks (installed by ``setup``) by ``delta_s`` now."""
        jump_clock(delta_s)

    def op_redis_threads(self, handle: int, plans: list[list[list[Any]]]) -> list[Any]:
        """Thread i runs ``plans[i]`` (``[key, cost]`` calls) in order; all start together.

        Returns each thread's encoded decisions (or ``{"raised": …}``), in call order.
        """
        from dskata.drivers.rate_limiter import encode

        limiter = self.limiters[handle]
        barrier = threading.Barrier(len(plans))
        results: list[list[Any]] = [[] for _ in plans]

        def work(index: int) -> None:
            barrier.wait()
            for key, cost in plans[index]:
                try:
                    results[index].append(encode(limiter.try_acquire(key, cost)))
                except BaseException as exc:
                    results[index].append({"raised": describe_exception(exc)})

        workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(plans))]
        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # threads interleave between every few bytecodes
        try:
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        finally:
            sys.setswitchinterval(previous)
        return results

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
        done = allowed = 0
        started = time.perf_counter()
        deadline = started + max_seconds
        while done < max_calls and time.perf_counter() < deadline:
            allowed += limiter.try_acquire(names[done % keys]).allowed is True
            done += 1
        return {"calls": done, "allowed": allowed, "seconds": time.perf_counter() - started}
