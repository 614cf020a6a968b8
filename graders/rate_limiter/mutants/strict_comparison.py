"""Mutant: a request is allowed only if the bucket holds MORE than ``cost`` tokens.

``tokens > cost`` instead of ``tokens >= cost``: a fresh key allows ``burst - 1``
requests, and the last whole token can never be spent.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__mutant__ = {
    "mistake": "Allowed only when tokens > cost, so the last token is never spent",
    "parts": [1],
    "catches": ["RL-FRESH-BURST"],
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class TokenBucketLimiter:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"rate must be a number, got {rate!r}")
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be finite and > 0, got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, list[float]] = {}  # key -> [tokens, last]
        self._limit = 1024

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if isinstance(cost, bool) or not isinstance(cost, int) or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, {self._burst}], got {cost!r}")
        with self._lock:
            now = self._clock()
            state = self._state.get(key)
            if state is None:
                if len(self._state) >= self._limit:
                    self._evict(now)
                state = self._state[key] = [float(self._burst), now]
            tokens = self._refill(state, now)
            if tokens > cost:
                state[0] = max(0.0, tokens - cost)
                return Decision(True, math.floor(state[0] + 1e-9), 0.0)
            return Decision(False, math.floor(tokens + 1e-9), (cost - tokens) / self._rate)

    def _refill(self, state: list[float], now: float) -> float:
        tokens, last = state
        if now > last:
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            state[0], state[1] = tokens, now
        return tokens

    def _evict(self, now: float) -> None:
        for key in [k for k, s in self._state.items() if self._is_full(s, now)]:
            del self._state[key]
        self._limit = max(1024, 2 * len(self._state))

    def _is_full(self, state: list[float], now: float) -> bool:
        tokens, last = state
        return now >= last and tokens + (now - last) * self._rate >= self._burst
