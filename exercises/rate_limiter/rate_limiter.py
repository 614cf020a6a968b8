"""A per-key token-bucket rate limiter. Edit this file; keep the names and signatures."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # part 3 only: the workspace installs redis when part 3 is assigned
    import redis


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

# [part 3]


class RedisTokenBucketLimiter:
    """The same bucket per key as ``TokenBucketLimiter``, kept in Redis and shared by every
    limiter on the same Redis and ``prefix``, in any number of processes.

    Time comes from the Redis server's clock, never this process's. Each decision is one
    atomic step on the server (one script call). Keys carry an expiry. If Redis is
    unreachable, too slow for the client's timeouts, or answers with an error,
    ``try_acquire`` returns ``Decision(allowed=fail_open, remaining=0, retry_after=0.0)``
    and never raises a Redis error; once Redis is back (also after a restart that lost
    loaded scripts), decisions are correct again.
    """

    def __init__(
        self,
        redis: redis.Redis,
        rate: float,
        burst: int,
        *,
        prefix: str = "dskata:rl:",
        fail_open: bool = False,
    ) -> None:
        """Create a limiter on ``redis`` (a synchronous client, socket timeouts set).

        Raises ValueError for ``rate`` or ``burst`` as ``TokenBucketLimiter`` does.
        """
        raise NotImplementedError

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        """As ``TokenBucketLimiter.try_acquire``, on the shared bucket of ``key``."""
        raise NotImplementedError


# [end part 3]
