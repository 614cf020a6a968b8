"""Mutant: retry_after is 0.0 on a denial while the clock is behind the key's last reading.

When the clock reads earlier than the key's last time, the denial computes the wait
from a negative elapsed time and clamps it to 0.0: 'retry now', which would be denied.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__mutant__ = {
    "mistake": "retry_after is 0.0 on a denial while the clock is behind the key's last reading",
    "parts": [1],
    "catches": ["RL-CLOCK-BACKWARDS"],
}

# Float refill is not exact: a bucket within this many tokens of `cost` counts as
# holding it (the contract accepts either decision within 1e-9 tokens).
_EPS = 1e-9
_MIN_SWEEP = 1024


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class TokenBucketLimiter:
    """One token bucket of capacity ``burst`` per key, refilled at ``rate`` tokens per second."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"rate={rate!r} must be a finite number > 0")
        try:
            rate = float(rate)
        except OverflowError:
            raise ValueError(f"rate={rate!r} must be a finite number > 0") from None
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate={rate!r} must be a finite number > 0")
        if type(burst) is not int or burst < 1:
            raise ValueError(f"burst={burst!r} must be an int >= 1")
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last]
        self._sweep_at = _MIN_SWEEP

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if type(cost) is not int or not 1 <= cost <= self._burst:
            raise ValueError(f"cost={cost!r} must be an int with 1 <= cost <= burst={self._burst}")
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._sweep_at:
                    self._sweep(now)
                tokens = float(self._burst)
                bucket = self._buckets[key] = [tokens, now]
            else:
                tokens, last = bucket
                if now > last:  # a clock that went back refills nothing until it passes `last`
                    tokens += (now - last) * self._rate
                    if tokens > self._burst:
                        tokens = float(self._burst)
                    bucket[1] = now
            if tokens + _EPS >= cost:
                tokens -= cost
                if tokens < 0.0:
                    tokens = 0.0
                bucket[0] = tokens
                return Decision(True, int(tokens + _EPS), 0.0)
            if bucket[1] > now:
                return Decision(False, int(tokens + _EPS), 0.0)  # clock went back: cannot tell
            bucket[0] = tokens  # keeping the refill progress is the same state, not a change
            return Decision(False, int(tokens + _EPS), (cost - tokens) / self._rate)

    def _sweep(self, now: float) -> None:
        """Forget keys whose bucket is full again: they behave exactly like new keys."""
        rate, burst = self._rate, self._burst
        idle = [
            key
            for key, (tokens, last) in self._buckets.items()
            if now >= last and tokens + (now - last) * rate >= burst
        ]
        for key in idle:
            del self._buckets[key]
        self._sweep_at = max(_MIN_SWEEP, 2 * len(self._buckets))
