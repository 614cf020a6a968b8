"""Pieces every exercise driver uses in the child: a manual clock, resident memory,
and the Redis client the contracts hand the candidate.

The client has socket timeouts set and redis-py's own retries off: with its
defaults a 0.25 s timeout stretched to ~7 s against a blackholed Redis (measured),
which would let the library, not the candidate, decide how long a call takes.
"""

from __future__ import annotations

import time
from typing import Any

SOCKET_TIMEOUT_S = 0.25


class ManualClock:
    """A clock the grader sets; with ``yield_gil`` every read lets other threads run."""

    def __init__(self, start: float, *, yield_gil: bool = False) -> None:
        self.now = float(start)
        self.yield_gil = yield_gil

    def __call__(self) -> float:
        if self.yield_gil:
            time.sleep(0)
        return self.now


def rss() -> int:
    """This process's resident memory in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def make_client(
    url: str, socket_timeout_s: float = SOCKET_TIMEOUT_S, *, asyncio: bool = False
) -> Any:
    """A ``redis.Redis`` (or ``redis.asyncio.Redis``) for ``url``: timeouts set, no retries."""
    from redis.backoff import NoBackoff

    if asyncio:
        import redis.asyncio
        from redis.asyncio.retry import Retry as AsyncRetry

        return redis.asyncio.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            retry=AsyncRetry(NoBackoff(), 0),
        )
    import redis
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
