"""Reference solution for ``dedup_consumer``: the inbox pattern on an at-least-once broker.

Design:
- One transaction per delivery reads the processed-marker of the message id first;
  if it is there the delivery is a duplicate (ack it, skip the handler), otherwise
  the handler stages its writes and the marker (TTL ``dedup_window``) is staged beside
  them, so effects and marker commit together or not at all (rule 1, 3).
- The ack comes only after the commit returned (rule 2): a crash before it leaves the
  delivery unacked, the broker redelivers it, and the marker makes that a duplicate.
- ``Conflict`` at commit re-runs the whole transaction, which then sees the marker of
  whoever won (rule 8); a handler exception discards the writes and nacks with an
  exponential, capped delay, or dead-letters from ``max_attempts`` on (rules 5, 6).
- A task per delivery under a semaphore of ``concurrency`` permits (rule 10); a permit
  is taken *before* receiving, so no delivery waits in the consumer's hands (a poison
  message never blocks the others, rule 7, and nothing is held after stop, rule 4).
- Nothing per message outlives its task (rule 11): the marker lives in the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from messaging import Broker, Conflict, Delivery, Message, Store, Tx

Handler = Callable[[Message, Tx], Awaitable[None]]

MARKER_PREFIX = "dedup:done:"
BASE_DELAY_S = 1.0  # first retry after 1 s, then 2, 4, … (SQS/Celery-style backoff)
MAX_DELAY_S = 60.0
POLL_S = 0.5  # longest receive wait: bounds how late run() notices stop


class _HandlerFailed(Exception):
    """Carries the handler's exception out of the transaction block (so it aborts)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(cause)
        self.cause = cause


class DedupConsumer:
    def __init__(
        self,
        broker: Broker,
        store: Store,
        handler: Handler,
        *,
        max_attempts: int = 5,
        concurrency: int = 1,
        dedup_window: float = 86400.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts={max_attempts!r} must be at least 1")
        if concurrency < 1:
            raise ValueError(f"concurrency={concurrency!r} must be at least 1")
        if not dedup_window > 0:  # also refuses NaN
            raise ValueError(f"dedup_window={dedup_window!r} must be positive")
        self._broker = broker
        self._store = store
        self._handler = handler
        self._max_attempts = max_attempts
        self._concurrency = concurrency
        self._window = dedup_window

    async def run(self, stop: anyio.Event) -> None:
        """Consumes until ``stop`` is set; returns once the deliveries in hand are done."""
        permits = anyio.Semaphore(self._concurrency)
        async with anyio.create_task_group() as tg:
            while not stop.is_set():
                await permits.acquire()
                if stop.is_set():
                    permits.release()
                    break
                deliveries = await self._broker.receive(max_messages=1, wait=POLL_S)
                if not deliveries:
                    permits.release()
                    continue
                tg.start_soon(self._one, deliveries[0], permits)

    async def _one(self, delivery: Delivery, permits: anyio.Semaphore) -> None:
        try:
            await self._process(delivery)
        finally:
            permits.release()

    async def _process(self, delivery: Delivery) -> None:
        marker = MARKER_PREFIX + delivery.message.id
        while True:
            try:
                async with self._store.transaction() as tx:
                    if await tx.get(marker) is None:
                        try:
                            await self._handler(delivery.message, tx)
                        except Exception as exc:
                            raise _HandlerFailed(exc) from exc
                        tx.set(marker, "1", ttl=self._window)
            except Conflict:
                continue  # someone wrote a key we read: run it again, it may be a duplicate now
            except _HandlerFailed as failed:
                await self._failed(delivery, failed.cause)
                return
            break
        await self._broker.ack(delivery)  # only now is the effect durable

    async def _failed(self, delivery: Delivery, exc: Exception) -> None:
        if delivery.attempt >= self._max_attempts:
            await self._broker.dead_letter(delivery, f"{type(exc).__name__}: {exc}")
        else:
            delay = min(BASE_DELAY_S * 2 ** (delivery.attempt - 1), MAX_DELAY_S)
            await self._broker.nack(delivery, delay=delay)
