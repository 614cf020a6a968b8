"""Mutant: refill adds only whole tokens but still moves ``last`` to ``now``.

``int(elapsed * rate)`` tokens are added on each call and the fraction is lost, so a
key polled more often than every ``1 / rate`` seconds never refills at all.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__mutant__ = {
    "mistake": "Refill adds int(elapsed * rate) and resets `last`, losing fractional refill",
    "parts": [1],
    "catches": ["RL-MODEL"],
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class _Bucket:
    __slots__ = ("last", "tokens")

    def __init__(self, tokens: float, last: float) -> None:
        self.tokens = tokens
        self.last = last


class TokenBucketLimiter:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if type(rate) not in (int, float) or not 0 < rate < math.inf:
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
        if type(burst) is not int or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        # A bucket idle this long is full again, so it can be forgotten.
        self._idle_after = burst / self._rate
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if type(cost) is not int or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, {self._burst}], got {cost!r}")
        with self._lock:
            now = self._clock()
            self._forget_idle(now)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self._burst), now)
            else:
                self._buckets.move_to_end(key)
            tokens = bucket.tokens
            if now > bucket.last:
                tokens = min(self._burst, tokens + int((now - bucket.last) * self._rate))
                bucket.tokens, bucket.last = tokens, now
            if tokens + 1e-9 >= cost:
                bucket.tokens = tokens = max(0.0, tokens - cost)
                return Decision(True, int(tokens + 1e-9), 0.0)
            return Decision(False, int(tokens + 1e-9), (cost - tokens) / self._rate)

    def _forget_idle(self, now: float) -> None:
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if now < bucket.last + self._idle_after:
                return
            del self._buckets[key]
