"""A correct dedup consumer: batches of ten split into ``concurrency`` sequential lanes.

Different from the reference (a task per delivery under a semaphore, one delivery per
receive):
- it receives up to 10 deliveries at once and deals them round-robin into
  ``concurrency`` lanes, each handled one after another by its own task; the next
  batch is received once every lane is done (a barrier per batch);
- when ``stop`` is set, each lane releases the deliveries it has not started with
  ``nack(delay=0)`` so another consumer gets them at once;
- the marker is ``processed/<id>``; the handler's failure leaves the transaction as a
  private exception type; backoff is linear (2 s × attempt).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from messaging import Broker, Conflict, Delivery, Message, Store, Tx

Handler = Callable[[Message, Tx], Awaitable[None]]
BATCH = 10


class _HandlerFailed(Exception):
    pass


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
            raise ValueError("max_attempts must be >= 1")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if dedup_window <= 0 or dedup_window != dedup_window:
            raise ValueError("dedup_window must be > 0")
        self.broker, self.store, self.handler = broker, store, handler
        self.max_attempts, self.lanes, self.window = max_attempts, concurrency, dedup_window

    async def run(self, stop: anyio.Event) -> None:
        while not stop.is_set():
            batch = await self.broker.receive(max_messages=BATCH, wait=1.0)
            async with anyio.create_task_group() as tg:
                for lane in range(self.lanes):
                    tg.start_soon(self._lane, batch[lane :: self.lanes], stop)

    async def _lane(self, lane: list[Delivery], stop: anyio.Event) -> None:
        for i, delivery in enumerate(lane):
            if stop.is_set():
                for rest in lane[i:]:
                    await self.broker.nack(rest, delay=0.0)  # release what we will not handle
                return
            await self._one(delivery)

    async def _one(self, delivery: Delivery) -> None:
        key = f"processed/{delivery.message.id}"
        while True:
            try:
                async with self.store.transaction() as tx:
                    if await tx.get(key) is None:
                        try:
                            await self.handler(delivery.message, tx)
                        except Exception as exc:
                            raise _HandlerFailed() from exc
                        tx.set(key, "done", ttl=self.window)
            except Conflict:
                continue
            except _HandlerFailed as failed:
                exc = failed.__cause__
                if delivery.attempt >= self.max_attempts:
                    reason = f"handler raised {type(exc).__name__}: {exc}"
                    await self.broker.dead_letter(delivery, reason)
                else:
                    await self.broker.nack(delivery, delay=2.0 * delivery.attempt)
                return
            await self.broker.ack(delivery)
            return
