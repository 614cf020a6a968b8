"""A correct dedup consumer: fixed workers fed by a memory object stream.

Different from the reference (a task per delivery under a semaphore, short polls):
- ``concurrency`` long-lived worker tasks read deliveries from one zero-buffer memory
  object stream; a single receiver asks the broker for up to ``concurrency`` at a time;
- the receiver's long ``receive(wait=5)`` is cancelled the moment ``stop`` is set (a
  cancel scope racing the stop event) instead of polling with a short wait; what it
  already received is still handed to the workers;
- the marker is ``inbox:<id>`` holding the receipt that committed it; backoff is
  0.5·3^attempt s capped at 30 s; the dead-letter reason is ``repr(exc)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import ObjectReceiveStream
from messaging import Broker, Conflict, Delivery, Message, Store, Tx

Handler = Callable[[Message, Tx], Awaitable[None]]


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
        if max_attempts < 1 or concurrency < 1 or not dedup_window > 0:
            raise ValueError(
                f"need max_attempts >= 1, concurrency >= 1, dedup_window > 0; got "
                f"{max_attempts!r}, {concurrency!r}, {dedup_window!r}"
            )
        self._broker, self._store, self._handler = broker, store, handler
        self._max_attempts, self._workers, self._window = max_attempts, concurrency, dedup_window

    async def run(self, stop: anyio.Event) -> None:
        send, receive = anyio.create_memory_object_stream[Delivery](0)
        async with anyio.create_task_group() as tg:
            for _ in range(self._workers):
                tg.start_soon(self._worker, receive.clone())
            receive.close()
            async with send:
                while not stop.is_set():
                    for delivery in await self._receive_unless_stopped(stop):
                        await send.send(delivery)

    async def _receive_unless_stopped(self, stop: anyio.Event) -> list[Delivery]:
        got: list[Delivery] = []
        async with anyio.create_task_group() as race:

            async def cancel_on_stop() -> None:
                await stop.wait()
                race.cancel_scope.cancel()

            race.start_soon(cancel_on_stop)
            got = await self._broker.receive(max_messages=self._workers, wait=5.0)
            race.cancel_scope.cancel()
        return got

    async def _worker(self, deliveries: ObjectReceiveStream[Delivery]) -> None:
        async with deliveries:
            async for delivery in deliveries:
                await self._handle(delivery)

    async def _handle(self, delivery: Delivery) -> None:
        key = "inbox:" + delivery.message.id
        error: Exception | None = None
        while True:
            error = None
            try:
                async with self._store.transaction() as tx:
                    if await tx.get(key) is None:
                        try:
                            await self._handler(delivery.message, tx)
                        except Exception as exc:
                            error = exc
                            raise
                        tx.set(key, delivery.receipt, ttl=self._window)
            except Conflict:
                if error is None:
                    continue  # lost a race on a key we read: try again on fresh data
            except Exception:
                if error is None:
                    raise  # the store itself failed: not the handler's failure
            break
        if error is None:
            await self._broker.ack(delivery)
        elif delivery.attempt >= self._max_attempts:
            await self._broker.dead_letter(delivery, repr(error))
        else:
            await self._broker.nack(delivery, delay=min(0.5 * 3**delivery.attempt, 30.0))
