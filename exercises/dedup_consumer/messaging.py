"""The kit's messaging module for ``dedup_consumer``: read it, use it, do not edit it.

The grader always uses its own copy of this file, whatever your workspace holds.

- ``Message``, ``Delivery``: what a broker hands out.
- ``Broker``: an at-least-once queue (receive / ack / nack / dead_letter).
- ``Store``, ``Tx``, ``Conflict``: a key-value store with optimistic transactions
  (``get`` watches a key; leaving the block commits atomically or raises ``Conflict``),
  with the semantics of Redis WATCH/MULTI/EXEC.
- ``InMemoryBroker``, ``InMemoryStore``: one process, on a clock (virtual time in tests).
- ``RedisStreamsBroker``, ``RedisStore``: the same contracts on a real Redis (≥ 6.2).

Semantics shared by every broker here (the same behavioural tests run against both):

- ``attempt`` counts the deliveries of one published copy of a message: 1 on its
  first delivery, +1 on each redelivery (SQS ``ApproximateReceiveCount``, the
  delivery count of a Redis Streams pending entry). A second copy of the same id
  (a producer retry, the ``duplicate`` fault) is counted on its own, from 1.
- A delivery not acked, nacked or dead-lettered within ``visibility_timeout`` seconds
  of its receipt is delivered again (to any consumer), even while the first is still
  being processed.
- ``ack`` and ``dead_letter`` settle the copy for good, whichever of its deliveries
  they name (as XACK acks an entry id). Settling a settled copy does nothing.
- ``nack(delay)`` makes the copy deliverable again ``delay`` seconds later; it does
  nothing if the copy is settled or was delivered again since this delivery (a stale
  receipt no longer owns it).

The in-memory classes are hand-written (no library offers a broker and a WATCH-style
store on an injectable clock); the Redis classes are thin layers over redis-py.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.lowlevel

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "Broker",
    "Clock",
    "Conflict",
    "DeadLetter",
    "Delivery",
    "InMemoryBroker",
    "InMemoryStore",
    "Message",
    "RedisStore",
    "RedisStreamsBroker",
    "Store",
    "Tx",
]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Message:
    id: str  # set by the producer; the same on duplicates and redeliveries
    body: dict[str, Any]  # a JSON object


@dataclass(frozen=True)
class Delivery:
    message: Message
    attempt: int  # 1 on the first delivery of this message, +1 on each redelivery
    receipt: str  # unique to this delivery


@dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered delivery, as the broker keeps it for a human."""

    message: Message
    attempt: int
    reason: str


class Broker(Protocol):  # at-least-once
    async def receive(self, max_messages: int = 10, wait: float = 1.0) -> list[Delivery]: ...
    async def ack(self, delivery: Delivery) -> None: ...  # done; never delivered again
    async def nack(self, delivery: Delivery, delay: float = 0.0) -> None: ...  # again after delay s
    async def dead_letter(self, delivery: Delivery, reason: str) -> None: ...  # parked for good


class Conflict(Exception):
    """A key read in the transaction changed before it committed."""


class Tx(Protocol):
    async def get(self, key: str) -> str | None: ...  # reads, and watches the key
    def set(self, key: str, value: str, *, ttl: float | None = None) -> None: ...  # staged
    def incr(self, key: str, amount: int = 1) -> None: ...  # staged
    def delete(self, key: str) -> None: ...  # staged


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...
    # Leaving the block normally commits every staged write atomically, or raises
    # Conflict if a key read with get() changed meanwhile (optimistic, like
    # WATCH/MULTI/EXEC). Leaving it with an exception discards the staged writes.


def _check_args(max_messages: int, wait: float) -> None:
    if type(max_messages) is not int or max_messages < 1:
        raise ValueError(f"max_messages={max_messages!r} must be an int >= 1")
    if not wait >= 0:
        raise ValueError(f"wait={wait!r} must not be negative")


def _check_delay(delay: float) -> None:
    if not delay >= 0 or math.isinf(delay):
        raise ValueError(f"delay={delay!r} must be a finite number >= 0")


# --------------------------------------------------------------------------- in memory


@dataclass(eq=False)
class _Copy:
    """One published copy of a message and where it stands."""

    seq: int
    message: Message
    visible_at: float  # deliverable from this time on (clock seconds)
    deliveries: int = 0
    receipt: str | None = None  # the latest delivery's receipt
    settled: str | None = None  # None, "acked" or "dead"


class InMemoryBroker:
    """An at-least-once queue in one process, on ``clock``, with seeded faults.

    - ``visibility_timeout``: seconds a delivery stays invisible before it is
      delivered again unless settled or nacked.
    - ``duplicate``: probability that ``publish`` enqueues a second copy of the message.
    - ``reorder``: probability that each slot of a ``receive`` takes a random
      deliverable copy instead of the oldest one.
    - ``redeliver``: probability that a delivery's copy stays deliverable at once (as if
      its visibility timeout had already passed), so it may be received again while
      the first delivery is being processed.
    - ``seed``: every fault decision comes from ``random.Random(seed)``.
    - ``clock``: defaults to ``anyio.current_time``, so a virtual-time loop (the kit's,
      looptime) or trio's ``MockClock`` drives visibility and delays. ``receive``
      waits with ``anyio.sleep``, so a custom clock should move with the loop's time.

    Inspect from a test: ``delivered`` (every delivery in order), ``acked``,
    ``nacked`` (delivery, delay), ``dead_letters`` (DeadLetter), ``unsettled``
    (copies neither acked nor dead-lettered), ``in_flight()``.
    """

    def __init__(
        self,
        *,
        visibility_timeout: float = 30.0,
        clock: Clock | None = None,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        redeliver: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not visibility_timeout > 0:
            raise ValueError(f"visibility_timeout={visibility_timeout!r} must be > 0")
        for name, p in (("duplicate", duplicate), ("reorder", reorder), ("redeliver", redeliver)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}={p!r} must be a probability in [0, 1]")
        self.visibility_timeout = visibility_timeout
        self._clock: Clock = clock or anyio.current_time
        self._duplicate, self._reorder, self._redeliver = duplicate, reorder, redeliver
        self._rng = random.Random(seed)
        self._seq = itertools.count(1)
        self._open: list[_Copy] = []  # unsettled copies, in publish order
        self._by_receipt: dict[str, _Copy] = {}
        self._waiters: list[anyio.Event] = []
        self.delivered: list[Delivery] = []
        self.acked: list[Delivery] = []
        self.nacked: list[tuple[Delivery, float]] = []
        self.dead_letters: list[DeadLetter] = []

    # producer side --------------------------------------------------------------

    def publish(self, message: Message, *, delay: float = 0.0) -> None:
        """Enqueues ``message`` (deliverable after ``delay`` s); may add a duplicate copy."""
        if not isinstance(message, Message):
            raise TypeError(f"publish() takes a Message, not {type(message).__name__}")
        _check_delay(delay)
        copies = 2 if self._duplicate and self._rng.random() < self._duplicate else 1
        at = self._now() + delay
        for _ in range(copies):
            self._open.append(_Copy(next(self._seq), message, at))
        self._wake()

    # inspection -----------------------------------------------------------------

    @property
    def unsettled(self) -> int:
        """Copies neither acked nor dead-lettered (queued, in flight or nacked)."""
        return len(self._open)

    def in_flight(self) -> int:
        """Copies delivered and still inside their visibility timeout."""
        now = self._now()
        return sum(1 for c in self._open if c.receipt is not None and c.visible_at > now)

    # the Broker protocol ---------------------------------------------------------

    async def receive(self, max_messages: int = 10, wait: float = 1.0) -> list[Delivery]:
        """Returns up to ``max_messages`` deliveries, waiting up to ``wait`` s for the first."""
        _check_args(max_messages, wait)
        await anyio.lowlevel.checkpoint()
        deadline = anyio.current_time() + wait
        while True:
            batch = self._take(max_messages)
            if batch:
                return batch
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                return []
            now = self._now()
            due = [c.visible_at - now for c in self._open if c.visible_at > now]
            nap = min([remaining, *due])
            event = anyio.Event()
            self._waiters.append(event)
            with anyio.move_on_after(nap):
                await event.wait()

    async def ack(self, delivery: Delivery) -> None:
        copy = self._copy_of(delivery)
        await anyio.lowlevel.checkpoint()
        if copy.settled is None:
            self._settle(copy, "acked")
            self.acked.append(delivery)

    async def nack(self, delivery: Delivery, delay: float = 0.0) -> None:
        _check_delay(delay)
        copy = self._copy_of(delivery)
        await anyio.lowlevel.checkpoint()
        if copy.settled is None and copy.receipt == delivery.receipt:
            copy.receipt = None
            copy.visible_at = self._now() + delay
            self.nacked.append((delivery, delay))
            self._wake()

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {type(reason).__name__}")
        copy = self._copy_of(delivery)
        await anyio.lowlevel.checkpoint()
        if copy.settled is None:
            self._settle(copy, "dead")
            self.dead_letters.append(DeadLetter(delivery.message, delivery.attempt, reason))

    # internals -------------------------------------------------------------------

    def _now(self) -> float:
        return float(self._clock())

    def _take(self, n: int) -> list[Delivery]:
        now = self._now()
        ready = sorted((c for c in self._open if c.visible_at <= now), key=_order)
        batch: list[Delivery] = []
        while ready and len(batch) < n:
            i = 0
            if self._reorder and len(ready) > 1 and self._rng.random() < self._reorder:
                i = self._rng.randrange(len(ready))
            copy = ready.pop(i)
            copy.deliveries += 1
            receipt = f"r{next(self._seq)}-{copy.seq}-{copy.deliveries}"
            copy.receipt = receipt
            self._by_receipt[receipt] = copy
            early = self._redeliver and self._rng.random() < self._redeliver
            copy.visible_at = now if early else now + self.visibility_timeout
            delivery = Delivery(copy.message, copy.deliveries, receipt)
            self.delivered.append(delivery)
            batch.append(delivery)
        return batch

    def _copy_of(self, delivery: Delivery) -> _Copy:
        copy = self._by_receipt.get(getattr(delivery, "receipt", None) or "")
        if copy is None:
            raise ValueError(f"unknown delivery receipt {getattr(delivery, 'receipt', None)!r}")
        return copy

    def _settle(self, copy: _Copy, how: str) -> None:
        copy.settled = how
        self._open.remove(copy)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()


def _order(copy: _Copy) -> tuple[float, int]:
    return (copy.visible_at, copy.seq)


@dataclass
class _Value:
    value: str
    expires_at: float | None  # clock seconds; None: no TTL


class InMemoryStore:
    """A key-value store with WATCH/MULTI/EXEC-style transactions, TTLs on ``clock``.

    - ``get`` reads the committed value (never the transaction's own staged writes,
      as reads in WATCH/MULTI/EXEC happen before MULTI) and watches the key.
    - Commit raises ``Conflict`` if a watched key was written (set, incr, delete) by
      another commit since it was read, or expired since (Redis ≥ 6.0.9: an expired
      watched key aborts EXEC). Otherwise every staged write applies at once.
    - ``set`` without ``ttl`` drops any TTL (Redis SET); ``incr`` keeps it (INCRBY) and
      starts a missing key at 0; ``incr`` of a non-integer value raises ``ValueError`` at
      commit and then nothing is applied.
    - Commit waits one scheduling point first, so other tasks can run between your
      last read and the commit, as they can on a real network.

    Inspect from a test: ``value(key)``, ``ttl(key)``, ``snapshot()``, ``commits``,
    ``conflicts``.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or anyio.current_time
        self._data: dict[str, _Value] = {}
        self._versions: dict[str, int] = {}
        self.commits = 0
        self.conflicts = 0

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        tx = _MemoryTx(self)
        yield tx
        await anyio.lowlevel.checkpoint()
        self._commit(tx)

    # inspection -----------------------------------------------------------------

    def value(self, key: str) -> str | None:
        """The committed value of ``key`` now (None if missing or expired)."""
        entry = self._live(key)
        return entry.value if entry else None

    def ttl(self, key: str) -> float | None:
        """Seconds until ``key`` expires; None if it is missing or has no TTL."""
        entry = self._live(key)
        if entry is None or entry.expires_at is None:
            return None
        return entry.expires_at - self._clock()

    def snapshot(self) -> dict[str, str]:
        """Every live key and its value."""
        return {k: e.value for k in list(self._data) if (e := self._live(k)) is not None}

    # internals -------------------------------------------------------------------

    def _live(self, key: str) -> _Value | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._data[key]
            self._bump(key)  # an expiry is a change to a watcher, as in Redis ≥ 6.0.9
            return None
        return entry

    def _bump(self, key: str) -> None:
        self._versions[key] = self._versions.get(key, 0) + 1

    def _commit(self, tx: _MemoryTx) -> None:
        for key, version in tx.watched.items():
            self._live(key)
            if self._versions.get(key, 0) != version:
                self.conflicts += 1
                raise Conflict(f"key {key!r} changed after the transaction read it")
        # Work out every new value first, so a bad incr leaves the store untouched.
        now = self._clock()
        after: dict[str, _Value | None] = {}
        for op in tx.ops:
            key = op[1]
            current = after[key] if key in after else self._live(key)
            if op[0] == "set":
                after[key] = _Value(op[2], None if op[3] is None else now + op[3])
            elif op[0] == "incr":
                try:
                    base = int(current.value) if current else 0
                except ValueError:
                    raise ValueError(f"incr({key!r}): the value is not an integer") from None
                after[key] = _Value(str(base + op[2]), current.expires_at if current else None)
            else:
                after[key] = None
        for key, entry in after.items():
            if entry is None:
                self._data.pop(key, None)
            else:
                self._data[key] = entry
            self._bump(key)
        self.commits += 1


class _MemoryTx:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.watched: dict[str, int] = {}
        self.ops: list[tuple[Any, ...]] = []

    async def get(self, key: str) -> str | None:
        _check_key(key)
        await anyio.lowlevel.checkpoint()
        value = self._store.value(key)
        self.watched.setdefault(key, self._store._versions.get(key, 0))
        return value

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        _check_key(key)
        if not isinstance(value, str):
            raise TypeError(f"value must be a str, not {type(value).__name__}")
        if ttl is not None and not (ttl > 0 and math.isfinite(ttl)):
            raise ValueError(f"ttl={ttl!r} must be a finite number > 0 (or None)")
        self.ops.append(("set", key, value, ttl))

    def incr(self, key: str, amount: int = 1) -> None:
        _check_key(key)
        if type(amount) is not int:
            raise TypeError(f"amount must be an int, not {type(amount).__name__}")
        self.ops.append(("incr", key, amount))

    def delete(self, key: str) -> None:
        _check_key(key)
        self.ops.append(("delete", key))


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, not {type(key).__name__}")


# --------------------------------------------------------------------------- Redis
#
# RedisStreamsBroker: one stream, one consumer group; every consumer process builds
# its own broker with its own consumer name.
#
# - publish: XADD stream * id <id> body <json>.
# - receive: first reclaims pending entries idle for >= visibility_timeout (XAUTOCLAIM,
#   which bumps their delivery count; its cursor is followed through the whole pending
#   list), then reads new ones (XREADGROUP ">"), polling in slices of at most POLL_S so
#   reclaimable entries are seen while waiting.
#   ``attempt`` is the entry's delivery count in the pending list (XPENDING).
# - ack: XACK + XDEL in one MULTI (a settled entry leaves the stream, so XLEN counts
#   what is left to do).
# - nack(delay): the entry stays pending. XCLAIM ... IDLE (vt - delay) JUSTID re-sets
#   its idle time without counting a delivery, so XAUTOCLAIM takes it again once
#   ``delay`` has passed; the due time also goes into a hash, and an entry reclaimed
#   before it is due (a delay longer than the visibility timeout) is parked again with
#   its delivery count restored (XCLAIM RETRYCOUNT). Both steps are Lua scripts, so a
#   check and its write cannot interleave with another consumer's.
# - dead_letter: XADD to the dead-letter stream, XACK and XDEL, atomically, unless the
#   entry was settled already.

POLL_S = 0.05

_RECLAIM = """
local stream, due_hash = KEYS[1], KEYS[2]
local group, consumer, vt, want = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local cursor = '0-0'
-- XAUTOCLAIM looks at no more than COUNT * 10 pending entries per call: follow its
-- cursor through the whole pending list, or entries behind a run of parked (nacked)
-- ones would never be reclaimed.
for _ = 1, 1000 do
  local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, vt, cursor,
                             'COUNT', want - #out)
  for _, e in ipairs(claimed[2]) do
    if type(e) == 'table' then
      local id = e[1]
      local p = redis.call('XPENDING', stream, group, id, id, 1)
      local n = tonumber(p[1][4])
      local due = tonumber(redis.call('HGET', due_hash, id) or '0')
      if due > now then
        local idle = math.max(0, vt - (due - now))
        redis.call('XCLAIM', stream, group, consumer, 0, id, 'IDLE', idle,
                   'RETRYCOUNT', n - 1, 'JUSTID')
      elseif not e[2] then
        redis.call('XACK', stream, group, id)
        redis.call('HDEL', due_hash, id)
      else
        redis.call('HDEL', due_hash, id)
        table.insert(out, {id, n, e[2]})
      end
    end
  end
  cursor = claimed[1]
  if cursor == '0-0' or #out >= want then break end
end
return out
"""

_NACK = """
local stream, due_hash = KEYS[1], KEYS[2]
local group, id, count, consumer = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local vt, delay = tonumber(ARGV[5]), tonumber(ARGV[6])
local p = redis.call('XPENDING', stream, group, id, id, 1)
if #p == 0 or tonumber(p[1][4]) ~= count then return 0 end
redis.call('XCLAIM', stream, group, consumer, 0, id, 'IDLE', math.max(0, vt - delay), 'JUSTID')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', due_hash, id, now + delay)
return 1
"""

_DEAD = """
local stream, dead, due_hash = KEYS[1], KEYS[2], KEYS[3]
local group, id = ARGV[1], ARGV[2]
local p = redis.call('XPENDING', stream, group, id, id, 1)
if #p == 0 then return 0 end
redis.call('XADD', dead, '*', 'id', ARGV[3], 'body', ARGV[4], 'attempt', ARGV[5],
           'reason', ARGV[6], 'entry', id)
redis.call('XACK', stream, group, id)
redis.call('XDEL', stream, id)
redis.call('HDEL', due_hash, id)
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: Any) -> dict[str, str]:
    """Stream entry fields as str → str, from a flat list (Lua) or a dict (redis-py)."""
    if isinstance(raw, dict):
        return {_text(k): _text(v) for k, v in raw.items()}
    items = list(raw)
    return {_text(items[i]): _text(items[i + 1]) for i in range(0, len(items), 2)}


def _message(fields: dict[str, str]) -> Message:
    return Message(fields["id"], json.loads(fields["body"]))


class RedisStreamsBroker:
    """The Broker protocol on a Redis stream and consumer group (Redis ≥ 6.2).

    ``client`` is a ``redis.asyncio.Redis``; its ``socket_timeout`` must exceed
    ``POLL_S`` (blocking reads last up to that long). ``dead_letter_stream`` defaults
    to ``<stream>:dead``; ``consumer`` to a random name (give each process its own).
    The group is created on first use, from the stream's beginning (XGROUP CREATE … 0
    MKSTREAM), so messages published before any consumer started are delivered.

    Inspect from a test: ``await dead_letters()``, ``await unsettled()`` (entries
    neither acked nor dead-lettered), ``await pending()`` (delivered, not settled).
    """

    def __init__(
        self,
        client: Redis,
        *,
        stream: str = "dedup:stream",
        group: str = "dedup",
        consumer: str | None = None,
        dead_letter_stream: str | None = None,
        visibility_timeout: float = 30.0,
    ) -> None:
        if not visibility_timeout > 0:
            raise ValueError(f"visibility_timeout={visibility_timeout!r} must be > 0")
        self._r = client
        self.stream, self.group = stream, group
        self.consumer = consumer or f"consumer-{uuid.uuid4().hex[:12]}"
        self.dead_letter_stream = dead_letter_stream or f"{stream}:dead"
        self.visibility_timeout = visibility_timeout
        self._due = f"{stream}:{group}:due"
        self._vt_ms = max(1, math.ceil(visibility_timeout * 1000))
        self._reclaim = client.register_script(_RECLAIM)
        self._nack = client.register_script(_NACK)
        self._dead = client.register_script(_DEAD)
        self._ready = False

    async def ensure_group(self) -> None:
        """Creates the stream and the consumer group unless they exist."""
        if self._ready:
            return
        from redis.exceptions import ResponseError

        try:
            await self._r.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    async def publish(self, message: Message) -> str:
        """Appends ``message`` to the stream; returns its entry id."""
        if not isinstance(message, Message):
            raise TypeError(f"publish() takes a Message, not {type(message).__name__}")
        await self.ensure_group()
        body = json.dumps(message.body, separators=(",", ":"), sort_keys=True)
        return _text(await self._r.xadd(self.stream, {"id": message.id, "body": body}))

    async def receive(self, max_messages: int = 10, wait: float = 1.0) -> list[Delivery]:
        _check_args(max_messages, wait)
        await self.ensure_group()
        deadline = anyio.current_time() + wait
        while True:
            got = await self._reclaimed(max_messages)
            room = max_messages - len(got)
            if room:
                remaining = deadline - anyio.current_time()
                block = None if got or remaining <= 0 else min(remaining, POLL_S)
                got += await self._new(room, block)
            if got or anyio.current_time() >= deadline:
                return got

    async def _reclaimed(self, n: int) -> list[Delivery]:
        rows = await self._reclaim(
            keys=[self.stream, self._due], args=[self.group, self.consumer, self._vt_ms, n]
        )
        return [self._delivery(_text(id_), int(count), _fields(raw)) for id_, count, raw in rows]

    async def _new(self, n: int, block_s: float | None) -> list[Delivery]:
        block = None if block_s is None else max(1, int(block_s * 1000))
        reply = await self._r.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=n, block=block
        )
        entries: list[Any] = []
        if isinstance(reply, dict):  # RESP3
            for value in reply.values():
                entries.extend(value[0] if value and isinstance(value[0], list) else value)
        else:
            for _, stream_entries in reply or []:
                entries.extend(stream_entries)
        # An entry read with ">" has never been delivered before: its count is 1.
        return [self._delivery(_text(id_), 1, _fields(raw)) for id_, raw in entries]

    def _delivery(self, entry: str, count: int, fields: dict[str, str]) -> Delivery:
        receipt = f"{entry}/{count}/{self.consumer}/{uuid.uuid4().hex[:8]}"
        return Delivery(_message(fields), count, receipt)

    @staticmethod
    def _entry(delivery: Delivery) -> tuple[str, int]:
        entry, count, *_ = delivery.receipt.split("/")
        return entry, int(count)

    async def ack(self, delivery: Delivery) -> None:
        entry, _ = self._entry(delivery)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, entry)
            pipe.xdel(self.stream, entry)
            pipe.hdel(self._due, entry)
            await pipe.execute()

    async def nack(self, delivery: Delivery, delay: float = 0.0) -> None:
        _check_delay(delay)
        entry, count = self._entry(delivery)
        await self._nack(
            keys=[self.stream, self._due],
            args=[self.group, entry, count, self.consumer, self._vt_ms, math.ceil(delay * 1000)],
        )

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {type(reason).__name__}")
        entry, _ = self._entry(delivery)
        body = json.dumps(delivery.message.body, separators=(",", ":"), sort_keys=True)
        await self._dead(
            keys=[self.stream, self.dead_letter_stream, self._due],
            args=[self.group, entry, delivery.message.id, body, delivery.attempt, reason],
        )

    async def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter so far, oldest first."""
        rows = await self._r.xrange(self.dead_letter_stream) or []
        out = []
        for _, raw in rows:
            f = _fields(raw)
            out.append(DeadLetter(_message(f), int(f["attempt"]), f["reason"]))
        return out

    async def unsettled(self) -> int:
        """Entries neither acked nor dead-lettered (settled entries are deleted)."""
        return int(await self._r.xlen(self.stream))

    async def pending(self) -> int:
        """Entries delivered to some consumer and not settled."""
        await self.ensure_group()
        summary = await self._r.xpending(self.stream, self.group)
        return int(summary["pending"] if isinstance(summary, dict) else summary[0])


class RedisStore:
    """The Store protocol on Redis: WATCH/MULTI/EXEC through one pooled connection.

    ``get`` runs WATCH and GET at once; staged writes are sent in one MULTI/EXEC when
    the block ends; EXEC aborted by a watched key → ``Conflict``. TTLs are Redis's own
    (SET … PX, rounded up to whole milliseconds). Keys are stored under ``prefix``.
    ``incr`` of a non-integer value raises ``ValueError`` at commit, but Redis has
    applied the transaction's other writes (EXEC has no rollback): don't.
    """

    def __init__(self, client: Redis, *, prefix: str = "") -> None:
        self._r = client
        self.prefix = prefix

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        from redis.exceptions import ResponseError, WatchError

        async with self._r.pipeline(transaction=True) as pipeline:
            pipe: Any = pipeline  # redis-py's pipeline methods are partly untyped
            tx = _RedisTx(pipe, self.prefix)
            yield tx
            pipe.multi()
            for op in tx.ops:
                key = self.prefix + op[1]
                if op[0] == "set":
                    px = None if op[3] is None else max(1, math.ceil(op[3] * 1000))
                    pipe.set(key, op[2], px=px)
                elif op[0] == "incr":
                    pipe.incrby(key, op[2])
                else:
                    pipe.delete(key)
            try:
                await pipe.execute()
            except WatchError:
                raise Conflict("a key read in the transaction changed before EXEC") from None
            except ResponseError as exc:
                raise ValueError(f"a staged write failed: {exc}") from None

    async def value(self, key: str) -> str | None:
        """The committed value of ``key`` now."""
        raw = await self._r.get(self.prefix + key)
        return None if raw is None else _text(raw)

    async def ttl(self, key: str) -> float | None:
        """Seconds until ``key`` expires; None if it is missing or has no TTL."""
        ms = int(await self._r.pttl(self.prefix + key))
        return None if ms < 0 else ms / 1000


class _RedisTx(_MemoryTx):
    """Stages writes like the in-memory transaction; reads WATCH and GET on ``pipe``."""

    def __init__(self, pipe: Any, prefix: str) -> None:
        self._pipe, self._prefix = pipe, prefix
        self.watched: dict[str, int] = {}
        self.ops: list[tuple[Any, ...]] = []

    async def get(self, key: str) -> str | None:
        _check_key(key)
        full = self._prefix + key
        if full not in self.watched:
            await self._pipe.watch(full)
            self.watched[full] = 0
        raw = await self._pipe.get(full)
        return None if raw is None else _text(raw)
