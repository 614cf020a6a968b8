"""A correct alternative: per-key state objects holding futures; WATCH/MULTI in Redis.

Part 1 keeps one ``_Slot`` per key. A claim is a slot whose ``asyncio.Future`` is still
pending; the executor sets the future's result (a JSON snapshot of what the operation
returned) when it completes, and from then on the slot is the stored record. Every
claim gets a number from a generation counter; an executor only touches the slot that
still carries its generation, which is the fence against a stale executor. Slots are
dropped through a min-heap of ``(expires_at, generation, key)``: each call pops what
has expired from the top, and the heap is rebuilt from the live slots once stale
entries outnumber them, so the cost per call is amortised O(1) (plus the heap's log).

Part 2 uses no Lua. One string key per idempotency key holds a JSON document
(``state``, ``fp``, ``token``, ``result``). Claiming is ``SET key claim NX PX lease``;
when that fails, ``GET`` and ``PTTL`` in one ``MULTI`` say what holds the key. Completing
and releasing are optimistic transactions: ``WATCH`` the key, ``GET`` it, compare the
claim's token, then ``MULTI`` ``SET … PX ttl`` (or ``DEL``) ``EXEC``. A ``WatchError`` means
someone else wrote the key after we looked, so the claim is no longer ours and the
write is abandoned rather than retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import heapq
import itertools
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

MAX_KEY_LEN = 255
CLEANUP_BOUND_S = 1.0  # the longest a Redis cleanup may delay the caller's answer


class KeyReused(Exception):
    """The key was already used with a different request fingerprint (HTTP 422)."""


class InProgress(Exception):
    """The first request with this key is still running (HTTP 409)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"request in progress; retry after {retry_after:.3f}s")
        self.retry_after = retry_after


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LEN:
        raise ValueError(f"key must be a str of 1..{MAX_KEY_LEN} characters, got {key!r:.80}")


def _positive_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return seconds


# -- part 1 -----------------------------------------------------------------------------


def _snapshot(value: Any) -> tuple[bool, Any]:
    """An immutable copy of a result: its JSON text, or a deep copy when JSON would not
    give back an equal value (a tuple, a NaN, …)."""
    try:
        text = json.dumps(value)
        if json.loads(text) == value:
            return True, text
    except (TypeError, ValueError):
        pass
    return False, copy.deepcopy(value)


def _thaw(snapshot: tuple[bool, Any]) -> Any:
    is_json, data = snapshot
    return json.loads(data) if is_json else copy.deepcopy(data)


class _Slot:
    """One key: a running claim while ``result`` is pending, a record once it is done."""

    __slots__ = ("expires_at", "fingerprint", "generation", "result")

    def __init__(
        self, fingerprint: str, generation: int, expires_at: float, result: asyncio.Future[Any]
    ) -> None:
        self.fingerprint = fingerprint
        self.generation = generation
        self.expires_at = expires_at  # lease end while running, ttl end once done
        self.result = result


class IdempotencyLayer:
    def __init__(
        self,
        *,
        ttl: float = 86400.0,
        lease: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = _positive_seconds("ttl", ttl)
        self._lease = _positive_seconds("lease", lease)
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._generations = itertools.count(1)

    async def execute(
        self, key: str, fingerprint: str, operation: Callable[[], Awaitable[Any]]
    ) -> Any:
        _check_key(key)
        now = self._clock()
        self._expire(now)
        slot = self._slots.get(key)
        if slot is not None and now < slot.expires_at:
            if slot.fingerprint != fingerprint:
                raise KeyReused(f"key {key!r} was used with another fingerprint")
            if slot.result.done():
                return _thaw(slot.result.result())
            raise InProgress(slot.expires_at - now)
        # New, expired, or held by an executor whose lease ran out: claim it. Nothing
        # above awaited, so no other task can claim between the check and this line.
        generation = next(self._generations)
        slot = _Slot(
            fingerprint,
            generation,
            now + self._lease,
            asyncio.get_running_loop().create_future(),
        )
        self._slots[key] = slot
        self._push(slot.expires_at, generation, key)
        try:
            value = await operation()
            snapshot = _snapshot(value)
        except BaseException:  # a failure or a cancellation: the key is new again
            if self._owns(key, generation):
                del self._slots[key]
            slot.result.cancel()
            raise
        if self._owns(key, generation):
            slot.expires_at = self._clock() + self._ttl
            slot.result.set_result(snapshot)
            self._push(slot.expires_at, generation, key)
        else:  # taken over (or swept) after the lease ran out: nothing of ours to update
            slot.result.cancel()
        return value

    def _owns(self, key: str, generation: int) -> bool:
        slot = self._slots.get(key)
        return slot is not None and slot.generation == generation

    def _push(self, expires_at: float, generation: int, key: str) -> None:
        heap = self._heap
        if len(heap) > 4 * len(self._slots) + 64:  # mostly stale entries: rebuild, O(live)
            heap[:] = [(s.expires_at, s.generation, k) for k, s in self._slots.items()]
            heapq.heapify(heap)
        heapq.heappush(heap, (expires_at, generation, key))

    def _expire(self, now: float) -> None:
        heap, slots = self._heap, self._slots
        while heap and heap[0][0] <= now:
            expires_at, generation, key = heapq.heappop(heap)
            slot = slots.get(key)
            if slot is not None and slot.generation == generation and slot.expires_at == expires_at:
                del slots[key]


# -- part 2 -----------------------------------------------------------------------------

_CLAIMED = object()


def _millis(seconds: float) -> int:
    return min(max(1, round(seconds * 1000)), 10**14)


class RedisIdempotencyLayer:
    def __init__(
        self,
        redis: Any,
        *,
        ttl: float = 86400.0,
        lease: float = 30.0,
        prefix: str = "dskata:idem:",
    ) -> None:
        from redis.exceptions import WatchError

        self._ttl_ms = _millis(_positive_seconds("ttl", ttl))
        self._lease = _positive_seconds("lease", lease)
        self._lease_ms = _millis(self._lease)
        self._redis = redis
        self._prefix = prefix
        self._watch_error = WatchError

    async def execute(
        self, key: str, fingerprint: str, operation: Callable[[], Awaitable[Any]]
    ) -> Any:
        _check_key(key)
        name = self._prefix + key
        token = secrets.token_hex(16)
        try:
            found = await self._claim(name, fingerprint, token)
        except asyncio.CancelledError:  # the SET may have landed before we were cancelled
            await self._bounded(self._release(name, token))
            raise
        if found is not _CLAIMED:
            return found
        try:
            value = await operation()
        except (Exception, asyncio.CancelledError):  # not GeneratorExit: no await then
            await self._bounded(self._release(name, token))
            raise
        await self._bounded(self._record(name, fingerprint, token, value))
        return value

    async def _claim(self, name: str, fingerprint: str, token: str) -> Any:
        claim = json.dumps({"state": "running", "fp": fingerprint, "token": token})
        while True:
            if await self._redis.set(name, claim, nx=True, px=self._lease_ms):
                return _CLAIMED
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(name)
                pipe.pttl(name)
                raw, pttl = await pipe.execute()
            if raw is None:  # expired between the SET and the GET: try to claim again
                continue
            held = json.loads(raw)
            if held.get("fp") != fingerprint:
                raise KeyReused(f"key {name!r} was used with another fingerprint")
            if held.get("state") == "done":
                return held.get("result")
            remaining_ms = pttl if pttl > 0 else (1 if pttl == 0 else self._lease_ms)
            raise InProgress(min(remaining_ms / 1000, self._lease))  # a sub-ms lease is 1 ms

    async def _record(self, name: str, fingerprint: str, token: str, value: Any) -> None:
        done = json.dumps({"state": "done", "fp": fingerprint, "token": token, "result": value})
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(name)
            if not self._holds(await pipe.get(name), token):
                return  # taken over, or our claim expired: write nothing
            pipe.multi()
            pipe.set(name, done, px=self._ttl_ms)
            try:
                await pipe.execute()
            except self._watch_error:
                return  # someone wrote the key after we looked: it is not ours any more

    async def _release(self, name: str, token: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(name)
            if not self._holds(await pipe.get(name), token):
                return
            pipe.multi()
            pipe.delete(name)
            try:
                await pipe.execute()
            except self._watch_error:
                return

    @staticmethod
    def _holds(raw: Any, token: str) -> bool:
        if raw is None:
            return False
        held = json.loads(raw)
        return held.get("state") == "running" and held.get("token") == token

    @staticmethod
    async def _bounded(cleanup: Awaitable[None]) -> None:
        """Runs a cleanup whose failure must not change the caller's answer, for at most
        ``CLEANUP_BOUND_S`` (the claim expires after its lease anyway)."""
        with contextlib.suppress(Exception):  # a Redis error, a timeout, a value JSON refuses
            await asyncio.wait_for(cleanup, CLEANUP_BOUND_S)
