"""Mutant: the sweep scans the shared table without the table lock.

To keep the global lock short, idle buckets are collected by iterating the dict
outside it; threads that insert new keys meanwhile make the iteration raise
``RuntimeError: dictionary changed size during iteration`` inside ``try_acquire``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__mutant__ = {
    "mistake": "Sweep iterates the shared dict without the lock: RuntimeError under load",
    "parts": [2],
    "catches": ["RL-THREADS-SWEEP"],
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class _Bucket:
    __slots__ = ("dead", "last", "lock", "tokens")

    def __init__(self, tokens: float, last: float) -> None:
        self.lock = threading.Lock()
        self.tokens = tokens
        self.last = last  # the latest clock value this key has seen
        self.dead = False


class TokenBucketLimiter:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if type(rate) not in (int, float) or not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
        if type(burst) is not int or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._table_lock = threading.Lock()
        self._calls = 0
        self._sweep_every = 1000

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if type(cost) is not int or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, {self._burst}], got {cost!r}")
        self._calls += 1  # a lost update only delays a sweep
        if self._calls >= self._sweep_every:
            self._sweep()
        while True:
            bucket = self._buckets.get(key)
            if bucket is None:
                with self._table_lock:
                    bucket = self._buckets.get(key)
                    if bucket is None:
                        bucket = self._buckets[key] = _Bucket(self._burst, self._clock())
            with bucket.lock:
                if not bucket.dead:
                    return self._decide(bucket, cost)

    def _decide(self, bucket: _Bucket, cost: int) -> Decision:
        now = self._clock()
        if now > bucket.last:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.last) * self._rate)
            bucket.last = now
        tokens = bucket.tokens
        if tokens >= cost - 1e-9:
            bucket.tokens = tokens = max(0.0, tokens - cost)
            return Decision(True, math.floor(tokens + 1e-9), 0.0)
        return Decision(False, math.floor(tokens + 1e-9), (cost - tokens) / self._rate)

    def _full(self, bucket: _Bucket, now: float) -> bool:
        elapsed = now - bucket.last
        return elapsed >= 0 and bucket.tokens + elapsed * self._rate >= self._burst

    def _sweep(self) -> None:
        self._calls = 0
        now = self._clock()
        idle = [(k, b) for k, b in self._buckets.items() if self._full(b, now)]
        with self._table_lock:
            for key, bucket in idle:
                if bucket.lock.acquire(blocking=False):
                    try:
                        if self._full(bucket, now):
                            bucket.dead = True
                            del self._buckets[key]
                    finally:
                        bucket.lock.release()
            self._sweep_every = max(1000, len(self._buckets))
