"""Mutant: exact ``Fraction`` arithmetic for every time and token count.

Every decision is exact, but each call does several Fraction operations (and
converts the clock to a Fraction), which is an order of magnitude slower than floats.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

__mutant__ = {
    "mistake": "Exact Fraction arithmetic: correct but about 10x slower than floats",
    "parts": [1],
    "catches": ["RL-SPEED"],
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class TokenBucketLimiter:
    """Exact arithmetic: times and tokens are Fractions, so no boundary is ever rounded."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"rate must be a number, got {rate!r}")
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be finite and > 0, got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        self._rate = Fraction(rate)
        self._burst = Fraction(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[Fraction, Fraction]] = {}  # key -> (tokens, last)
        self._limit = 1024

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if isinstance(cost, bool) or not isinstance(cost, int) or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, burst], got {cost!r}")
        with self._lock:
            now = Fraction(self._clock())
            state = self._state.get(key)
            if state is None:
                if len(self._state) >= self._limit:
                    self._evict(now)
                tokens, last = self._burst, now
            else:
                tokens, last = state
                if now > last:
                    tokens, last = min(self._burst, tokens + (now - last) * self._rate), now
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._state[key] = (tokens, last)
            retry_after = 0.0 if allowed else float((cost - tokens) / self._rate)
            return Decision(allowed, math.floor(tokens), retry_after)

    def _evict(self, now: Fraction) -> None:
        full = [
            key
            for key, (tokens, last) in self._state.items()
            if now >= last and tokens + (now - last) * self._rate >= self._burst
        ]
        for key in full:
            del self._state[key]
        self._limit = max(1024, 2 * len(self._state))
