"""An idempotency layer for retried requests. Edit this file; keep the names and signatures."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # part 2 only: the workspace installs redis when part 2 is assigned
    import redis.asyncio


class KeyReused(Exception):
    """The key was already used with a different request fingerprint (HTTP 422)."""


class InProgress(Exception):
    """The first request with this key is still running (HTTP 409)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"request in progress; retry after {retry_after:.3f}s")
        self.retry_after = retry_after


class IdempotencyLayer:
    """Runs an operation at most once per idempotency key and replays its result.

    - A new key (never seen, or its record expired) is claimed; ``operation()`` is
      awaited once; ``(fingerprint, result)`` is kept until ``ttl`` seconds after the
      operation completed; the result is returned.
    - If the operation raises, or the caller is cancelled while it runs, the claim is
      forgotten (the key is new again) and the exception or cancellation propagates.
      Failures are never replayed.
    - Completed, same fingerprint: the stored result is returned without calling the
      operation. Mutating a returned value never changes later replays.
    - Completed or running, different fingerprint: ``KeyReused``.
    - Running, same fingerprint, lease not expired: ``InProgress(retry_after)``, the
      seconds until the lease expires.
    - Running with an expired lease: the new call takes over as if the key were new;
      the stale executor still returns its own result to its caller, but can no longer
      change the newer claim or its result.
    - Concurrent calls (asyncio tasks) with one key run the operation at most once
      while the lease holds; a second call never waits for the first.
    - Expired records and claims are eventually forgotten, amortised O(1) per call.

    Time comes only from ``clock`` (seconds, float).
    """

    def __init__(
        self,
        *,
        ttl: float = 86400.0,
        lease: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a layer.

        Raises ValueError when ``ttl`` or ``lease`` is not a finite number > 0.
        """
        raise NotImplementedError

    async def execute(
        self, key: str, fingerprint: str, operation: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Run ``operation`` for ``key`` at most once, or replay its result; see the class.

        ``operation`` is an async callable with no arguments returning a JSON-compatible
        value. Raises ValueError, before anything else, when ``key`` is not a ``str`` of
        1 to 255 characters.
        """
        raise NotImplementedError

# [part 2]


class RedisIdempotencyLayer:
    """The same rules as ``IdempotencyLayer``, shared by every layer (in any number of
    processes) on the same Redis and ``prefix``.

    Claims and records expire through Redis itself (server time): a claim after
    ``lease``, a record ``ttl`` seconds after completion. Claiming is one atomic step
    on the server; completing and releasing are fenced, so a stale executor cannot
    overwrite or release a newer claim or its result.

    If Redis fails before the operation would run, the Redis error propagates and the
    operation is not run. If Redis fails while recording the result, the result is
    still returned. If Redis fails while releasing the claim of a failed operation, the
    operation's own exception is raised.
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        ttl: float = 86400.0,
        lease: float = 30.0,
        prefix: str = "dskata:idem:",
    ) -> None:
        """Create a layer on ``redis`` (an asyncio client, socket timeouts set).

        Raises ValueError for ``ttl`` or ``lease`` as ``IdempotencyLayer`` does.
        """
        raise NotImplementedError

    async def execute(
        self, key: str, fingerprint: str, operation: Callable[[], Awaitable[Any]]
    ) -> Any:
        """As ``IdempotencyLayer.execute``, with the key's state kept in Redis."""
        raise NotImplementedError


# [end part 2]
