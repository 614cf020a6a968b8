"""Mutant: the result is recorded by reading the token, then writing in a MULTI.

``HGET token`` and, if it is still this claim's, ``MULTI HDEL/HSET/PEXPIRE EXEC``: the
writes are one transaction, but the check is not part of it (no WATCH, no Lua). If the
lease runs out between the read and the write and another process takes the key over,
the stale executor's write lands on the new claim: it deletes the new token and plants
its own result, which later calls replay while the new executor still runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis.asyncio

__mutant__ = {
    "mistake": "Records the result with HGET token, then a MULTI/EXEC write without WATCH, so a takeover between the check and the write is overwritten by the stale executor.",
    "parts": [2],
    "catches": ["IDEM-REDIS-FENCING"],
}

_log = logging.getLogger(__name__)

_MAX_KEY_LENGTH = 255


class KeyReused(Exception):
    """The key was already used with a different request fingerprint (HTTP 422)."""


class InProgress(Exception):
    """The first request with this key is still running (HTTP 409)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"request in progress; retry after {retry_after:.3f}s")
        self.retry_after = retry_after


class _Entry:
    """A key's state: a running claim (``result`` is None) or a completed record.

    ``expires_at`` is the lease's end while running and ``completed_at + ttl`` once
    completed; at or after it the entry is dead and the key behaves as new.
    """

    __slots__ = ("expires_at", "fingerprint", "result")

    def __init__(self, fingerprint: str, expires_at: float) -> None:
        self.fingerprint = fingerprint
        self.expires_at = expires_at
        self.result: str | None = None  # the result as JSON text, once completed


class IdempotencyLayer:
    """Runs each operation at most once per key while its lease holds, and replays its
    result to later calls with the same key and fingerprint for ``ttl`` seconds."""

    def __init__(
        self,
        *,
        ttl: float = 86400.0,
        lease: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = _checked_seconds("ttl", ttl)
        self._lease = _checked_seconds("lease", lease)
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        # (expires_at, key) in the order they were queued, which is expiry order for a
        # clock that does not go back. An item may be outdated (the key got a newer
        # entry); the sweep checks the live entry before dropping anything.
        self._lease_ends: deque[tuple[float, str]] = deque()
        self._record_ends: deque[tuple[float, str]] = deque()

    async def execute(
        self, key: str, fingerprint: str, operation: Callable[[], Awaitable[Any]]
    ) -> Any:
        _check_key(key)
        now = self._clock()
        self._sweep(now)
        entry = self._entries.get(key)
        if entry is not None and now < entry.expires_at:
            # Rule 5 before 4 and 6: another payload under a live key is a client bug.
            if entry.fingerprint != fingerprint:
                raise KeyReused(f"key {key!r} was used with a different fingerprint")
            if entry.result is not None:
                return json.loads(entry.result)
            raise InProgress(entry.expires_at - now)
        # New key, expired record, or a claim whose lease ran out (its executor crashed
        # or is too slow): claim it. No await since the lookup, so no other task has
        # seen the key in between.
        claim = _Entry(fingerprint, now + self._lease)
        self._entries[key] = claim
        self._lease_ends.append((claim.expires_at, key))
        try:
            result = await operation()
            # Encoding here means a value that cannot be stored fails like the
            # operation did (key released) instead of being recorded half-way.
            encoded = json.dumps(result, separators=(",", ":"))
        except BaseException:  # also CancelledError: a cancelled call frees the key too
            if self._entries.get(key) is claim:  # fenced: never release a newer claim
                del self._entries[key]
            raise
        # Fenced: record only while the key still holds this call's claim. A stale
        # executor whose key was taken over (or swept) returns its result unrecorded.
        if self._entries.get(key) is claim:
            claim.result = encoded
            claim.expires_at = self._clock() + self._ttl
            self._record_ends.append((claim.expires_at, key))
        # The first caller gets the operation's own object; replays decode a copy.
        return result

    def _sweep(self, now: float) -> None:
        """Drop entries whose lease or ttl has passed. Every queued item is popped at
        most once, so the cost is amortised O(1) per queued item, i.e. per call."""
        entries = self._entries
        for queue in (self._lease_ends, self._record_ends):
            while queue and queue[0][0] <= now:
                _, key = queue.popleft()
                entry = entries.get(key)
                # The key may hold a newer entry than the one this item was queued for.
                if entry is not None and entry.expires_at <= now:
                    del entries[key]


def _checked_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(f"{name}={value!r} must be a finite number > 0") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")
    return seconds


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not 1 <= len(key) <= _MAX_KEY_LENGTH:
        shown = f"a str of length {len(key)}" if isinstance(key, str) else repr(type(key))
        raise ValueError(f"key must be a str of 1 to {_MAX_KEY_LENGTH} characters, not {shown}")


# ---------------------------------------------------------------------------------------
# Part 2. One hash per key at ``prefix + key``:
#   running:   {fingerprint, token}    expires after `lease` (PEXPIRE in the claim script)
#   completed: {fingerprint, result}   expires `ttl` after completion (PEXPIRE on record)
# The token is random per claim and removed on completion, so only the claim's own
# executor can complete or release it, and nobody can release a completed record.

_CLAIMED, _REPLAY, _REUSED, _RUNNING = 0, 1, 2, 3

# KEYS[1] = the key's hash; ARGV = fingerprint, token, lease in ms.
# Returns {0} claimed by this call; {1, result JSON} completed with this fingerprint;
# {2} held with another fingerprint; {3, PTTL in ms} running with this fingerprint.
# A claim whose lease ran out is already gone (Redis expired it), so it is claimed anew.
_CLAIM = """
local held = redis.call('HMGET', KEYS[1], 'fingerprint', 'result')
if not held[1] then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {0}
end
if held[1] ~= ARGV[1] then
  return {2}
end
if held[2] then
  return {1, held[2]}
end
return {3, redis.call('PTTL', KEYS[1])}
"""

# KEYS[1]; ARGV = token, result JSON, ttl in ms. Returns 1 if recorded, 0 if the claim is
# no longer this executor's (lease expired; maybe taken over): then it changes nothing.
_RECORD = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'result', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1]; ARGV = token. Returns 1 if this executor's claim was deleted, else 0.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
return redis.call('DEL', KEYS[1])
"""

# A release after a cancellation must not hold the cancellation up for long when Redis
# is dead or the caller's client has no socket timeout; the claim expires anyway.
_RELEASE_TIMEOUT_S = 1.0
# Far beyond any real ttl, and small enough that Redis accepts it as an expiry.
_MAX_MS = 10**15


class RedisIdempotencyLayer:
    """``IdempotencyLayer`` shared through Redis by every layer with the same ``prefix``;
    claims and records expire through Redis (server time)."""

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        ttl: float = 86400.0,
        lease: float = 30.0,
        prefix: str = "dskata:idem:",
    ) -> None:
        self._ttl_ms = _milliseconds(_checked_seconds("ttl", ttl))
        self._lease_ms = _milliseconds(_checked_seconds("lease", lease))
        self._prefix = prefix
        self._redis = redis
        # Script objects send EVALSHA and, on NOSCRIPT (a restarted Redis), load the
        # script and retry once.
        self._claim = redis.register_script(_CLAIM)
        self._record = redis.register_script(_RECORD)
        self._release = redis.register_script(_RELEASE)

    async def execute(
        self, key: str, fingerprint: str, operation: Callable[[], Awaitable[Any]]
    ) -> Any:
        _check_key(key)
        name = self._prefix + key
        token = secrets.token_hex(16)
        # Fail closed: a Redis error here propagates and the operation never runs.
        reply = await self._claim(keys=[name], args=[fingerprint, token, self._lease_ms])
        status = int(reply[0])
        if status == _REUSED:
            raise KeyReused(f"key {key!r} was used with a different fingerprint")
        if status == _REPLAY:
            return json.loads(reply[1])  # str or bytes, whatever the client decodes to
        if status == _RUNNING:
            # PTTL may round a sub-millisecond remainder down to 0; retry_after must be > 0.
            raise InProgress(max(int(reply[1]), 1) / 1000)
        try:
            result = await operation()
            encoded = json.dumps(result, separators=(",", ":"))
        except BaseException:  # also CancelledError: free the key, then let it propagate
            await self._release_quietly(name, token)
            raise
        try:
            if await self._redis.hget(name, "token") in (token, token.encode()):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.hdel(name, "token")
                    pipe.hset(name, "result", encoded)
                    pipe.pexpire(name, self._ttl_ms)
                    await pipe.execute()
        except Exception as exc:
            # The operation ran; losing its result to a Redis error would be worse than
            # the documented edge: the claim expires after its lease and a retry may run
            # the operation again. A cancellation here propagates; the claim expires too.
            _log.warning("could not record the result on %r: %r", name, exc)
        return result

    async def _release_quietly(self, name: str, token: str) -> None:
        """Release this call's claim; on any error give up, since the claim expires after
        its lease anyway and the caller must see the operation's own exception."""
        try:
            async with asyncio.timeout(_RELEASE_TIMEOUT_S):
                await self._release(keys=[name], args=[token])
        except Exception as exc:  # not BaseException: a second cancellation propagates
            _log.warning("could not release the claim on %r: %r", name, exc)


def _milliseconds(seconds: float) -> int:
    """Redis expiries are whole milliseconds; never 0, which would delete the key at once."""
    return min(max(round(seconds * 1000), 1), _MAX_MS)
