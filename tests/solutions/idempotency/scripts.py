"""A correct alternative: tuple records with claim ids; a Redis hash written by Lua.

Part 1 keeps one flat dict ``key -> (claim_id, fingerprint, deadline, done, value)``.
Claim ids come from one counter that only grows; an executor writes back only while
the record still carries its id (the fence). Every record also sits in one of two
insertion-ordered dicts, running claims or completed records. The lease and the ttl
are constants and the clock does not go back, so each of those dicts is ordered by
deadline too: a call pops at most a few expired entries from their fronts, which
costs amortised O(1) (every record enters a queue once per state and leaves it once)
and keeps pace with the at most two entries a call adds. Results are kept and
replayed as ``copy.deepcopy`` copies.

Part 2 keeps one Redis hash per key (fields ``state``, ``fp``, ``token``, ``result``).
Claiming is one Lua script (create the hash and ``PEXPIRE`` it by the lease, or say
what holds the key, with ``PTTL`` for ``retry_after``); completing is another
(compare the token, store the result, ``PEXPIRE`` by the ttl); releasing a third
(compare, ``DEL``). Scripts go through ``register_script``, which reloads them after
a ``NOSCRIPT``. All expiry is the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

MAX_KEY_LEN = 255
SWEEP_PER_CALL = 4  # expired entries popped per queue and call, at most
CLEANUP_BOUND_S = 1.0


class KeyReused(Exception):
    """The key was already used with a different request fingerprint (HTTP 422)."""


class InProgress(Exception):
    """The first request with this key is still running (HTTP 409)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"request in progress; retry after {retry_after:.3f}s")
        self.retry_after = retry_after


def _validate_key(key: Any) -> None:
    if not isinstance(key, str):
        raise ValueError(f"key must be a str, got {type(key).__name__}")
    if not 0 < len(key) <= MAX_KEY_LEN:
        raise ValueError(f"key must have 1..{MAX_KEY_LEN} characters, got {len(key)}")


def _validate_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}={value!r} is not a number")
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large") from None
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be finite and > 0")
    return value


# -- part 1 -----------------------------------------------------------------------------

# record fields
_ID, _FP, _DEADLINE, _DONE, _VALUE = range(5)


class IdempotencyLayer:
    def __init__(
        self,
        *,
        ttl: float = 86400.0,
        lease: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = _validate_seconds("ttl", ttl)
        self._lease = _validate_seconds("lease", lease)
        self._clock = clock
        self._records: dict[str, tuple[int, str, float, bool, Any]] = {}
        self._running: OrderedDict[str, float] = OrderedDict()  # key -> lease end
        self._completed: OrderedDict[str, float] = OrderedDict()  # key -> ttl end
        self._last_id = 0

    async def execute(
        self, key: str, fingerprint: str, operation: Callable[[], Awaitable[Any]]
    ) -> Any:
        _validate_key(key)
        now = self._clock()
        self._sweep(self._running, now)
        self._sweep(self._completed, now)
        record = self._records.get(key)
        if record is not None and now < record[_DEADLINE]:
            if record[_FP] != fingerprint:
                raise KeyReused(key)
            if record[_DONE]:
                return copy.deepcopy(record[_VALUE])
            raise InProgress(record[_DEADLINE] - now)

        self._last_id += 1
        claim_id = self._last_id
        deadline = now + self._lease
        self._records[key] = (claim_id, fingerprint, deadline, False, None)
        self._completed.pop(key, None)
        self._running.pop(key, None)
        self._running[key] = deadline
        try:
            value = await operation()
            kept = copy.deepcopy(value)
        except BaseException:
            if self._is_current(key, claim_id):
                del self._records[key]
                self._running.pop(key, None)
            raise
        if self._is_current(key, claim_id):
            expires = self._clock() + self._ttl
            self._records[key] = (claim_id, fingerprint, expires, True, kept)
            self._running.pop(key, None)
            self._completed[key] = expires
        return value

    def _is_current(self, key: str, claim_id: int) -> bool:
        record = self._records.get(key)
        return record is not None and record[_ID] == claim_id

    def _sweep(self, queue: OrderedDict[str, float], now: float) -> None:
        for _ in range(SWEEP_PER_CALL):
            if not queue:
                return
            key = next(iter(queue))
            if queue[key] > now:
                return
            del queue[key]
            self._records.pop(key, None)


# -- part 2 -----------------------------------------------------------------------------

# KEYS[1] = the hash; ARGV = fingerprint, token, lease in ms.
# Returns {"claimed"}, {"reused"}, {"done", result} or {"running", pttl}.
_CLAIM = """
local h = redis.call('HMGET', KEYS[1], 'state', 'fp', 'result')
if not h[1] then
  redis.call('HSET', KEYS[1], 'state', 'running', 'fp', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'claimed'}
end
if h[2] ~= ARGV[1] then
  return {'reused'}
end
if h[1] == 'done' then
  return {'done', h[3]}
end
return {'running', redis.call('PTTL', KEYS[1])}
"""

# KEYS[1] = the hash; ARGV = token, result as JSON, ttl in ms. Returns 1 if stored.
_COMPLETE = """
local h = redis.call('HMGET', KEYS[1], 'state', 'token')
if h[1] ~= 'running' or h[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] = the hash; ARGV = token. Returns 1 if the claim was ours and is gone.
_RELEASE = """
local h = redis.call('HMGET', KEYS[1], 'state', 'token')
if h[1] ~= 'running' or h[2] ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
"""


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _ms(seconds: float) -> int:
    """Whole milliseconds, never more than asked (so a PTTL never exceeds the lease)."""
    return min(max(1, math.floor(seconds * 1000 + 1e-6)), 10**14)


class RedisIdempotencyLayer:
    def __init__(
        self,
        redis: Any,
        *,
        ttl: float = 86400.0,
        lease: float = 30.0,
        prefix: str = "dskata:idem:",
    ) -> None:
        self._ttl_ms = _ms(_validate_seconds("ttl", ttl))
        self._lease = _validate_seconds("lease", lease)
        self._lease_ms = _ms(self._lease)
        self._prefix = prefix
        self._claim = redis.register_script(_CLAIM)
        self._complete = redis.register_script(_COMPLETE)
        self._release = redis.register_script(_RELEASE)

    async def execute(
        self, key: str, fingerprint: str, operation: Callable[[], Awaitable[Any]]
    ) -> Any:
        _validate_key(key)
        name = self._prefix + key
        token = uuid.uuid4().hex
        try:
            reply = await self._claim(keys=[name], args=[fingerprint, token, self._lease_ms])
        except asyncio.CancelledError:  # the script may have run: give the key back
            await self._quietly(self._release(keys=[name], args=[token]))
            raise
        verdict = _text(reply[0])
        if verdict == "reused":
            raise KeyReused(key)
        if verdict == "done":
            return json.loads(reply[1])
        if verdict == "running":
            pttl = int(reply[1])  # 0: the claim ends this very millisecond
            raise InProgress(min(max(pttl, 1) / 1000, self._lease) if pttl >= 0 else self._lease)
        try:
            value = await operation()
        except (Exception, asyncio.CancelledError):  # not GeneratorExit: no await then
            await self._quietly(self._release(keys=[name], args=[token]))
            raise
        await self._quietly(self._store(name, token, value))
        return value

    async def _store(self, name: str, token: str, value: Any) -> None:
        await self._complete(keys=[name], args=[token, json.dumps(value), self._ttl_ms])

    @staticmethod
    async def _quietly(cleanup: Awaitable[Any]) -> None:
        """Best effort, bounded: the caller's answer is already decided."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(cleanup, CLEANUP_BOUND_S)
