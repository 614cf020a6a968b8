"""Mutant: keys are never forgotten.

A GCRA limiter that is otherwise correct keeps the TAT of every key it has ever seen,
so memory grows with the number of distinct keys forever.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__mutant__ = {
    "mistake": "Never forgets idle keys: memory grows with every distinct key",
    "parts": [1],
    "catches": ["RL-MEMORY"],
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class TokenBucketLimiter:
    """GCRA: each key stores its theoretical arrival time (TAT) instead of a token count."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"rate must be a number, got {rate!r}")
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be finite and > 0, got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be a positive int, got {burst!r}")
        self._rate = float(rate)
        self._burst = burst
        self._interval = 1.0 / self._rate  # seconds per token
        self._tau = burst * self._interval  # how far a TAT may run ahead of now
        self._clock = clock
        self._latest = -math.inf  # the clock never goes back from the limiter's view
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if isinstance(cost, bool) or not isinstance(cost, int) or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, burst={self._burst}], got {cost!r}")
        with self._lock:
            now = self._latest = max(self._latest, self._clock())
            tat = max(self._tats.get(key, now), now)
            new_tat = tat + cost * self._interval
            slack = now + self._tau - new_tat  # >= 0 iff the bucket holds `cost` tokens
            if slack >= -1e-9 * self._interval:
                self._tats[key] = new_tat
                return Decision(True, max(0, math.floor(slack * self._rate + 1e-9)), 0.0)
            tokens = (now + self._tau - tat) * self._rate
            return Decision(False, math.floor(tokens + 1e-9), -slack)
