"""Driver for the ``rate_limiter`` exercise: calls, batches and thread races.

Part 3's Redis ops live in ``rate_limiter_redis`` and are mixed in.

Runs in the child. Clocks are virtual (``ManualClock``) so sequential checks are
exact; thread races use a tiny switch interval and a clock that yields the GIL,
which widens check-then-act windows so that a racy limiter loses every run.
"""

from __future__ import annotations

import sys
import threading
import time
from types import ModuleType
from typing import Any

from dskata.drivers._common import ManualClock, rss
from dskata.drivers._schemas import (
    BOOL,
    INT,
    NULL,
    NUMBER,
    RAISED,
    STRING,
    Schema,
    array,
    nullable,
    one_of,
    record,
    tuple_of,
)
from dskata.drivers.rate_limiter_redis import RedisOps, redis_replies, skew_clock
from dskata.sandbox.shim import describe_exception

Encoded = list[Any]

# One try_acquire answer as ``encode`` gives it; a thread's answer may be its exception.
DECISION: Schema = one_of(tuple_of(BOOL, INT, NUMBER), record({"bad_return": STRING}))
_ANSWER = one_of(DECISION, record({"raised": RAISED}))
REPLIES: dict[str, Schema] = {
    "construct": NULL,
    "new": INT,
    "drop": NULL,
    "acquire": DECISION,
    "run": record({"decisions": array(DECISION), "raised": nullable(RAISED)}),
    "race": array(array(array(_ANSWER))),
    "race_ticking": record({"decisions": array(array(_ANSWER)), "start": NUMBER, "end": NUMBER}),
    "memory": record({"growth": array(INT)}),
    "throughput": record({"calls": INT, "seconds": NUMBER}),
    **redis_replies(DECISION),
}


class YieldingKey(str):
    """A key whose hash lets other threads run: a check-then-act on a dict of keys
    (look up, find nothing, create, store) is then interrupted inside, every time.

    It is a ``str`` in every other way, so the contract (``key: str``) still holds.
    """

    __slots__ = ()

    def __hash__(self) -> int:
        time.sleep(0)
        return str.__hash__(self)


class TickingClock:
    """A shared clock that moves forward by ``tick`` on every read (thread-safe)."""

    def __init__(self, start: float, tick: float) -> None:
        self.now = float(start)
        self.tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.tick
            value = self.now
        time.sleep(0)
        return value


def encode(decision: object) -> Encoded | dict[str, Any]:
    """Returns ``[allowed, remaining, retry_after]`` or ``{"bad_return": …}``."""
    try:
        allowed = decision.allowed  # type: ignore[attr-defined]
        remaining = decision.remaining  # type: ignore[attr-defined]
        retry_after = decision.retry_after  # type: ignore[attr-defined]
    except Exception:
        return {"bad_return": f"returned {type(decision).__name__}, not a Decision"}
    if type(allowed) is not bool or type(remaining) is not int:
        return {"bad_return": f"Decision({allowed!r}, {remaining!r}, {retry_after!r})"[:300]}
    if type(retry_after) not in (int, float):
        return {"bad_return": f"retry_after={retry_after!r} is not a float"[:300]}
    return [allowed, remaining, float(retry_after)]


def _idle() -> None:
    return None


class _Pool:
    """Worker threads that run one plan per trial, started together behind a barrier."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._start = threading.Barrier(size + 1)
        self._end = threading.Barrier(size + 1)
        self._work: list[Any] = [None] * size
        self._results: list[Any] = [None] * size
        self._stop = False
        threading.stack_size(512 * 1024)
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(size)
        ]
        for t in self._threads:
            t.start()

    def _loop(self, index: int) -> None:
        while True:
            self._start.wait()
            if self._stop:
                return
            fn = self._work[index]
            try:
                self._results[index] = fn()
            finally:
                self._end.wait()

    def run(self, work: list[Any]) -> list[Any]:
        """Runs one function per thread (idle threads get a no-op); returns their results."""
        self._work = list(work) + [_idle] * (self.size - len(work))
        self._start.wait()
        self._end.wait()
        return list(self._results[: len(work)])

    def close(self) -> None:
        self._stop = True
        self._start.wait()


def setup(options: dict[str, Any]) -> None:
    """Runs before the candidate's module is imported (see the shim)."""
    if "clock_skew_s" in options:  # only processes that asked get patched clocks
        skew_clock(float(options["clock_skew_s"]))


class Driver(RedisOps):
    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.limiters: dict[int, Any] = {}
        self.clocks: dict[int, ManualClock] = {}

    def _make(self, rate: float, burst: int, clock: Any) -> Any:
        return self.module.TokenBucketLimiter(rate, burst, clock=clock)

    # -- single calls ----------------------------------------------------

    def op_construct(self, rate: Any, burst: Any) -> None:
        self._make(rate, burst, ManualClock(0.0))

    def op_new(self, rate: float, burst: int, start: float = 0.0) -> int:
        clock = ManualClock(start)
        handle = len(self.limiters) + 1
        self.limiters[handle] = self._make(rate, burst, clock)
        self.clocks[handle] = clock
        return handle

    def op_drop(self, handle: int) -> None:
        """Forgets a limiter, so a design with a background thread per limiter does not
        pile up threads over a check's hundred examples."""
        self.limiters.pop(handle, None)
        self.clocks.pop(handle, None)

    def op_acquire(self, handle: int, key: str, cost: Any = None, at: float | None = None) -> Any:
        if at is not None:
            self.clocks[handle].now = at
        limiter = self.limiters[handle]
        decision = limiter.try_acquire(key) if cost is None else limiter.try_acquire(key, cost)
        return encode(decision)

    def op_run(self, handle: int, steps: list[list[Any]]) -> dict[str, Any]:
        """Runs ``[time, key, cost]`` steps in order; stops at the first exception."""
        limiter = self.limiters[handle]
        clock = self.clocks[handle]
        out: list[Any] = []
        for at, key, cost in steps:
            clock.now = at
            try:
                d = limiter.try_acquire(key) if cost is None else limiter.try_acquire(key, cost)
            except BaseException as exc:
                return {"decisions": out, "raised": describe_exception(exc)}
            out.append(encode(d))
        return {"decisions": out, "raised": None}

    # -- thread races ----------------------------------------------------

    def op_race(
        self,
        rate: float,
        burst: int,
        plans: list[list[list[list[Any]]]],
        switch_interval: float = 1e-6,
    ) -> list[list[list[Any]]]:
        """Runs trials; ``plans[trial][thread]`` is that thread's ``[key, cost]`` calls.

        One limiter for all trials at a frozen clock; every thread of a trial starts at
        the same barrier. Returns ``[trial][thread]`` lists of encoded decisions.
        """
        clock = ManualClock(1000.0, yield_gil=True)
        limiter = self._make(rate, burst, clock)
        width = max(len(p) for p in plans)
        pool = _Pool(width)
        previous = sys.getswitchinterval()
        sys.setswitchinterval(switch_interval)
        try:
            return [pool.run([self._caller(limiter, calls) for calls in trial]) for trial in plans]
        finally:
            sys.setswitchinterval(previous)
            pool.close()

    @staticmethod
    def _caller(limiter: Any, calls: list[list[Any]]) -> Any:
        keys = [YieldingKey(key) for key, _ in calls]

        def run() -> list[Any]:
            out: list[Any] = []
            for key, (_, cost) in zip(keys, calls, strict=True):
                try:
                    out.append(encode(limiter.try_acquire(key, cost)))
                except BaseException as exc:
                    out.append({"raised": describe_exception(exc)})
            return out

        return run

    def op_race_ticking(
        self,
        rate: float,
        burst: int,
        plans: list[list[list[Any]]],
        tick: float,
        switch_interval: float = 1e-6,
    ) -> dict[str, Any]:
        """One trial on a clock that moves forward on every read; returns decisions and span."""
        clock = TickingClock(1000.0, tick)
        limiter = self._make(rate, burst, clock)
        pool = _Pool(len(plans))
        previous = sys.getswitchinterval()
        sys.setswitchinterval(switch_interval)
        try:
            results = pool.run([self._caller(limiter, calls) for calls in plans])
        finally:
            sys.setswitchinterval(previous)
            pool.close()
        return {"decisions": results, "start": 1000.0, "end": clock.now}

    # -- memory and speed --------------------------------------------------

    def op_memory(
        self, rate: float, burst: int, keys: int, step: float, hot_every: int = 0, hot_cost: int = 1
    ) -> dict[str, Any]:
        """Touches ``keys`` distinct keys, one every ``step`` s; returns RSS growth in bytes.

        With ``hot_every`` one key ("hot") also asks for ``hot_cost`` tokens every that
        many keys; spending faster than it refills, it is never full, and it must not
        stop the others from being forgotten.
        """
        clock = ManualClock(0.0)
        limiter = self._make(rate, burst, clock)
        base = rss()
        checkpoints: list[int] = []
        for i in range(keys):
            clock.now = i * step
            if hot_every and i % hot_every == 0:
                limiter.try_acquire("hot", hot_cost)
            limiter.try_acquire(f"user-{i}")
            if (i + 1) % (keys // 4) == 0:
                checkpoints.append(rss() - base)
        return {"growth": checkpoints}

    def op_throughput(
        self,
        rate: float,
        burst: int,
        keys: int,
        calls: int,
        tick: float,
        max_seconds: float,
    ) -> dict[str, Any]:
        """Calls round-robin over ``keys`` keys; stops at ``calls`` or ``max_seconds``.

        The first round (every key new) is timed too and keeps the same deadline, so a
        solution that is slow on new keys is measured, not left to hit the call limit.
        """
        clock = ManualClock(0.0)
        limiter = self._make(rate, burst, clock)
        names = [f"key-{i}" for i in range(keys)]
        acquire = limiter.try_acquire
        done = 0
        started = time.perf_counter()
        deadline = started + max_seconds
        while done < calls:
            for _ in range(50 if done < keys else 200):
                clock.now += tick
                acquire(names[done % keys])
                done += 1
            if time.perf_counter() > deadline:
                break
        return {"calls": done, "seconds": time.perf_counter() - started}
