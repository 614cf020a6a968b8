"""Mutant: claims the message id in a transaction of its own, then runs the handler in a second one: a crash in between marks the message done with no effects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from messaging import Broker, Conflict, Delivery, Message, Store, Tx

__mutant__ = {
    "mistake": "Commits the processed-marker in its own transaction before the handler's transaction.",
    "parts": [1],
    "catches": ["DEDUP-CRASH"],
}

Handler = Callable[[Message, Tx], Awaitable[None]]
BASE_DELAY_S = 1.0
MAX_DELAY_S = 60.0
POLL_S = 0.5


class _Failed(Exception):
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
        if not dedup_window > 0:
            raise ValueError(f"dedup_window={dedup_window!r} must be positive")
        self._broker = broker
        self._store = store
        self._handler = handler
        self._max_attempts = max_attempts
        self._concurrency = concurrency
        self._window = dedup_window

    async def run(self, stop: anyio.Event) -> None:
        limiter = anyio.Semaphore(self._concurrency)
        async with anyio.create_task_group() as tg:
            while not stop.is_set():
                await limiter.acquire()
                if stop.is_set():
                    limiter.release()
                    break
                deliveries = await self._broker.receive(max_messages=1, wait=POLL_S)
                if not deliveries:
                    limiter.release()
                    continue
                tg.start_soon(self._one, deliveries[0], limiter)

    async def _one(self, delivery: Delivery, limiter: anyio.Semaphore) -> None:
        try:
            await self._process(delivery)
        finally:
            limiter.release()

    def _marker(self, message: Message) -> str:
        return f"dedup:done:{message.id}"

    async def _process(self, delivery: Delivery) -> None:
        while True:
            try:
                async with self._store.transaction() as claim:
                    fresh = await claim.get(self._marker(delivery.message)) is None
                    if fresh:
                        claim.set(self._marker(delivery.message), "1", ttl=self._window)
                async with self._store.transaction() as tx:
                    if fresh:
                        try:
                            await self._handler(delivery.message, tx)
                        except Exception as exc:
                            raise _Failed(exc) from exc
            except Conflict:
                continue
            except _Failed as failed:
                await self._failed(delivery, failed.cause)
                return
            break
        await self._broker.ack(delivery)

    async def _failed(self, delivery: Delivery, exc: Exception) -> None:
        if delivery.attempt >= self._max_attempts:
            await self._broker.dead_letter(delivery, f"{type(exc).__name__}: {exc}")
        else:
            await self._broker.nack(delivery, delay=self._delay(delivery.attempt))

    def _delay(self, attempt: int) -> float:
        return min(BASE_DELAY_S * 2 ** (attempt - 1), MAX_DELAY_S)
