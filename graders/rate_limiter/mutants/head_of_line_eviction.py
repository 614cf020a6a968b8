"""Mutant: Keeps last-use order by assuming `d[key] = v` moves a key to the end; one busy key blocks all forgetting.

Buckets live in a dict meant to be in last-use order, and each call drops full
buckets from the front. Reassigning an existing key does not move it in a dict, so a
key that is always busy sits at the front forever and nothing behind it is dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__mutant__ = {
    "mistake": "Keeps last-use order by assuming `d[key] = v` moves a key to the end; one busy key blocks all forgetting",
    "parts": [1],
    "catches": ["RL-MEMORY"],
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


def _check_rate_burst(rate, burst):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise ValueError("rate")
    try:
        r = float(rate)
    except OverflowError:
        raise ValueError("rate") from None
    if not (math.isfinite(r) and r > 0):
        raise ValueError("rate")
    if type(burst) is not int or burst < 1:
        raise ValueError("burst")
    return r


def _check_cost(cost, burst):
    if type(cost) is not int or not 1 <= cost <= burst:
        raise ValueError("cost")


class TokenBucketLimiter:
    """Buckets in a dict kept in last-use order; each call drops full buckets from the front."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = _check_rate_burst(rate, burst)
        self._burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._b: dict[str, tuple[float, float]] = {}  # key -> (tokens, last); oldest use first

    def _full(self, st: tuple[float, float], now: float) -> bool:
        tokens, last = st
        return now >= last and tokens + (now - last) * self._rate >= self._burst

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        _check_cost(cost, self._burst)
        with self._lock:
            now = self._clock()
            b = self._b
            # the front holds the least recently used bucket: once it is not full, none after it is
            for _ in range(2):
                if not b:
                    break
                oldest = next(iter(b))
                if not self._full(b[oldest], now):
                    break
                del b[oldest]
            st = b.get(key)
            if st is None:
                tokens, last = float(self._burst), now
            else:
                tokens, last = st
                if now > last:
                    tokens = min(float(self._burst), tokens + (now - last) * self._rate)
                    last = now
            if tokens + 1e-9 >= cost:
                tokens = max(0.0, tokens - cost)
                b[key] = (tokens, last)  # store: this key is now the most recently used
                return Decision(True, math.floor(tokens + 1e-9), 0.0)
            b[key] = (tokens, last)
            return Decision(False, math.floor(tokens + 1e-9), (cost - tokens) / self._rate)
