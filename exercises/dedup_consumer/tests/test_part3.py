"""Public tests for part 3: bounded concurrency and bounded memory.

The grader also runs several consumer processes against Redis Streams and kills them
with SIGKILL; these tests stay in one process, on the kit's in-memory broker and store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from dedup_consumer import DedupConsumer
from messaging import InMemoryBroker, InMemoryStore, Message, Tx

LIMIT_S = 10.0


async def consume_until(consumer: DedupConsumer, done: Callable[[], bool]) -> None:
    """Runs ``consumer`` until ``done()`` holds, then sets stop and waits for run()."""
    stop = anyio.Event()
    with anyio.fail_after(LIMIT_S):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer.run, stop)
            while not done():
                await anyio.sleep(0.01)
            stop.set()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    anyio.run(scenario)


def test_never_more_than_concurrency_handlers_at_once() -> None:
    running = most = 0

    async def slow(message: Message, tx: Tx) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await anyio.sleep(0.05)
            tx.incr(f"effect:{message.id}")
        finally:
            running -= 1

    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        for i in range(12):
            broker.publish(Message(f"m{i}", {}))
        consumer = DedupConsumer(broker, store, slow, concurrency=3)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        assert most <= 3
        assert all(store.value(f"effect:m{i}") == "1" for i in range(12))

    run(scenario)


def test_two_deliveries_of_one_id_at_once_commit_one_set_of_effects() -> None:
    async def slow(message: Message, tx: Tx) -> None:
        await anyio.sleep(0.05)
        tx.incr(f"effect:{message.id}")

    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        for _ in range(4):
            broker.publish(Message("same", {}))  # four copies, handled side by side
        consumer = DedupConsumer(broker, store, slow, concurrency=4)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        assert store.value("effect:same") == "1"
        assert len(broker.acked) == 4

    run(scenario)
