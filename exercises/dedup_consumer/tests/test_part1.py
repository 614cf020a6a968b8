"""Public tests for part 1: exactly-once effects on an at-least-once broker.

Each test runs a short scenario with ``anyio.run`` against the kit's ``InMemoryBroker``
and ``InMemoryStore`` (on the real clock), so no pytest plugin is needed. They cover only
the basics; the grader also duplicates, reorders, redelivers and kills your consumer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from dedup_consumer import DedupConsumer
from messaging import InMemoryBroker, InMemoryStore, Message, Tx

LIMIT_S = 10.0  # a generous bound on every scenario's real time


async def count_effect(message: Message, tx: Tx) -> None:
    """The handler: one effect per message, a counter the test can read back."""
    tx.incr(f"effect:{message.id}")


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


def test_each_message_is_processed_and_acked() -> None:
    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        for i in range(3):
            broker.publish(Message(f"m{i}", {"n": i}))
        consumer = DedupConsumer(broker, store, count_effect)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        assert {f"m{i}": store.value(f"effect:m{i}") for i in range(3)} == {
            "m0": "1",
            "m1": "1",
            "m2": "1",
        }
        assert sorted(d.message.id for d in broker.acked) == ["m0", "m1", "m2"]
        assert broker.nacked == [] and broker.dead_letters == []

    run(scenario)


def test_a_duplicate_is_acked_and_its_effects_are_not_applied_again() -> None:
    calls: list[str] = []

    async def handler(message: Message, tx: Tx) -> None:
        calls.append(message.id)
        tx.incr(f"effect:{message.id}")

    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        broker.publish(Message("order-1", {"total": 10}))
        broker.publish(Message("order-1", {"total": 10}))  # the producer retried
        consumer = DedupConsumer(broker, store, handler)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        assert store.value("effect:order-1") == "1"
        assert calls == ["order-1"]  # the handler is not called for the duplicate
        assert len(broker.acked) == 2  # both copies are acked
        assert broker.nacked == [] and broker.dead_letters == []

    run(scenario)


def test_a_duplicate_long_after_the_first_is_still_recognised() -> None:
    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        broker.publish(Message("a", {}))
        consumer = DedupConsumer(broker, store, count_effect, dedup_window=60.0)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        broker.publish(Message("a", {}), delay=0.2)  # well inside the dedup window
        await consume_until(consumer, lambda: broker.unsettled == 0)
        assert store.value("effect:a") == "1"

    run(scenario)


def test_the_marker_expires_after_the_dedup_window() -> None:
    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        broker.publish(Message("a", {}))
        consumer = DedupConsumer(broker, store, count_effect, dedup_window=60.0)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        # Whatever keys the consumer added beside the effect expire, no sooner than the window.
        own = [k for k in store.snapshot() if not k.startswith("effect:")]
        assert own, "no processed-marker was written"
        for key in own:
            ttl = store.ttl(key)
            assert ttl is not None and 50.0 < ttl <= 120.0, (key, ttl)

    run(scenario)


def test_run_returns_soon_after_stop() -> None:
    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        consumer = DedupConsumer(broker, store, count_effect)
        stop, returned = anyio.Event(), anyio.Event()

        async def consume() -> None:
            await consumer.run(stop)
            returned.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.1)
            stop.set()
            with anyio.fail_after(3.0):  # nothing in hand: run() must return promptly
                await returned.wait()
        broker.publish(Message("late", {}))
        assert broker.delivered == []  # not one receive after stop took it

    run(scenario)
