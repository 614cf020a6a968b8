"""Mutant: counts attempts itself, per message id in this process, instead of reading Delivery.attempt. Across processes each one sees only a share of the deliveries, so a failure on the broker's attempt max_attempts is nacked again; in one process a second copy of the id shares the count and is dead-lettered on its first attempt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from messaging import Broker, Conflict, Delivery, Message, Store, Tx

__mutant__ = {
    "mistake": "Counts attempts in the process (per id) instead of using the broker's Delivery.attempt.",
    "parts": [2, 3],
    "catches": ["DEDUP-DEADLETTER", "DEDUP-REDIS-CRASH"],
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
        self._attempts: dict[str, int] = {}  # id → failed attempts seen by this process

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
                async with self._store.transaction() as tx:
                    if await tx.get(self._marker(delivery.message)) is None:
                        try:
                            await self._handler(delivery.message, tx)
                        except Exception as exc:
                            raise _Failed(exc) from exc
                        tx.set(self._marker(delivery.message), "1", ttl=self._window)
            except Conflict:
                continue
            except _Failed as failed:
                await self._failed(delivery, failed.cause)
                return
            break
        self._attempts.pop(delivery.message.id, None)
        await self._broker.ack(delivery)

    async def _failed(self, delivery: Delivery, exc: Exception) -> None:
        ident = delivery.message.id
        attempt = self._attempts.get(ident, 0) + 1
        if attempt >= self._max_attempts:
            self._attempts.pop(ident, None)
            await self._broker.dead_letter(delivery, f"{type(exc).__name__}: {exc}")
        else:
            self._attempts[ident] = attempt
            await self._broker.nack(delivery, delay=self._delay(attempt))

    def _delay(self, attempt: int) -> float:
        return min(BASE_DELAY_S * 2 ** (attempt - 1), MAX_DELAY_S)
