"""Mutant: a clock that goes backwards moves ``last`` backwards.

The elapsed time is clamped at zero, so the jump itself creates nothing, but ``last``
is set to the earlier time; when the clock moves forward again the same interval is
refilled a second time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__mutant__ = {
    "mistake": "Clock going back moves `last` back, so the same interval is refilled twice",
    "parts": [1],
    "catches": ["RL-CLOCK-BACKWARDS"],
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
            elapsed = max(0.0, now - bucket.last)  # a clock that went back adds nothing
            tokens = min(self._burst, tokens + elapsed * self._rate)
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
