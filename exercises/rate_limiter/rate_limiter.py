"""A per-key token-bucket rate limiter. Edit this file; keep the names and signatures."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class TokenBucketLimiter:
    """One token bucket of capacity ``burst`` per key, refilled at ``rate`` tokens per second.

    A key never used before has a full bucket. Buckets refill continuously and never
    hold more than ``burst`` tokens. Time comes only from ``clock`` (seconds, float).
    Keys idle for at least ``burst / rate`` seconds are eventually forgotten, so memory
    stays bounded by the keys used recently.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Create a limiter.

        Raises ValueError when ``rate`` is not a finite number > 0 or ``burst`` is
        not an int >= 1.
        """
        raise NotImplementedError

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        """Take ``cost`` tokens from ``key``'s bucket if it holds that many; never blocks.

        Returns the decision: ``allowed``; ``remaining``, the floor of the tokens left
        afterwards; ``retry_after``, 0.0 when allowed, else ``(cost - tokens) / rate``.
        A denied request changes nothing. If the clock goes backwards, no tokens are
        created and nothing raises.

        Raises ValueError when ``cost`` is not an int with 1 <= cost <= burst.
        """
        raise NotImplementedError
