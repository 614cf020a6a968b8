"""Mutant: keys share buckets through a fixed hash table.

To bound memory without eviction, buckets live in 64 slots chosen by ``hash(key)``;
two keys in one slot share a bucket, so draining one key denies another.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__mutant__ = {
    "mistake": "Buckets in a fixed 64-slot table by hash(key): colliding keys share one",
    "parts": [1],
    "catches": ["RL-KEYS-INDEPENDENT"],
}

_SLOTS = 64  # a fixed table: memory is bounded without any eviction


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


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
        self._tokens = [float(burst)] * _SLOTS
        self._last = [-math.inf] * _SLOTS  # a slot never used is full
        self._lock = threading.Lock()

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if type(cost) is not int or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, {self._burst}], got {cost!r}")
        slot = hash(key) % _SLOTS
        with self._lock:
            now = self._clock()
            tokens = self._tokens[slot]
            if now > self._last[slot]:
                tokens = min(self._burst, tokens + (now - self._last[slot]) * self._rate)
                self._tokens[slot], self._last[slot] = tokens, now
            if tokens >= cost - 1e-9:
                self._tokens[slot] = tokens = max(0.0, tokens - cost)
                return Decision(True, math.floor(tokens + 1e-9), 0.0)
            return Decision(False, math.floor(tokens + 1e-9), (cost - tokens) / self._rate)
