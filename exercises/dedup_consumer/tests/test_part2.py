"""Public tests for part 2: failing handlers, backoff, dead letters, conflicts, arguments.

Each test runs a short scenario with ``anyio.run`` on the real clock, so your nack
delays are real seconds here: a test waits up to a minute for a retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from dedup_consumer import DedupConsumer
from messaging import InMemoryBroker, InMemoryStore, Message, Tx

LIMIT_S = 60.0  # a generous bound on every scenario's real time (retries wait their delay)


async def count_effect(message: Message, tx: Tx) -> None:
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


class PoisonMessage(Exception):
    pass


def test_a_failed_attempt_is_nacked_with_a_delay_and_its_writes_discarded() -> None:
    async def flaky(message: Message, tx: Tx) -> None:
        tx.incr(f"effect:{message.id}")  # staged, then discarded by the failure
        if len(broker.delivered) == 1:
            raise PoisonMessage("first attempt fails")

    broker, store = InMemoryBroker(), InMemoryStore()

    async def scenario() -> None:
        broker.publish(Message("a", {}))
        consumer = DedupConsumer(broker, store, flaky, max_attempts=3)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        assert store.value("effect:a") == "1"
        assert [(d.attempt, delay > 0) for d, delay in broker.nacked] == [(1, True)]
        assert [d.attempt for d in broker.acked] == [2]

    run(scenario)


def test_the_last_attempt_is_dead_lettered_with_a_reason_naming_the_exception() -> None:
    async def poison(message: Message, tx: Tx) -> None:
        tx.incr(f"effect:{message.id}")
        raise PoisonMessage(f"cannot handle {message.id}")

    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        broker.publish(Message("bad", {}))
        consumer = DedupConsumer(broker, store, poison, max_attempts=2)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        assert store.value("effect:bad") is None
        assert [d.attempt for d, _ in broker.nacked] == [1]
        [dead] = broker.dead_letters
        assert dead.message.id == "bad" and dead.attempt == 2
        assert "PoisonMessage" in dead.reason
        assert broker.acked == []

    run(scenario)


def test_a_poison_message_does_not_hold_up_the_others() -> None:
    async def handler(message: Message, tx: Tx) -> None:
        if message.id == "bad":
            raise PoisonMessage("always")
        tx.incr(f"effect:{message.id}")

    async def scenario() -> None:
        broker, store = InMemoryBroker(), InMemoryStore()
        broker.publish(Message("bad", {}))
        for i in range(3):
            broker.publish(Message(f"ok{i}", {}))
        consumer = DedupConsumer(broker, store, handler, max_attempts=100)
        # The good messages are done long before "bad" runs out of attempts.
        await consume_until(consumer, lambda: len(broker.acked) == 3)
        assert all(store.value(f"effect:ok{i}") == "1" for i in range(3))

    run(scenario)


def test_a_conflict_at_commit_is_retried_not_failed() -> None:
    calls = 0

    async def handler(message: Message, tx: Tx) -> None:
        nonlocal calls
        calls += 1
        balance = int(await tx.get("balance") or 0)
        if calls == 1:  # another writer changes the key this transaction read
            async with store.transaction() as other:
                other.incr("balance", 100)
        tx.set("balance", str(balance + 1))

    store = InMemoryStore()

    async def scenario() -> None:
        broker = InMemoryBroker()
        broker.publish(Message("a", {}))
        consumer = DedupConsumer(broker, store, handler)
        await consume_until(consumer, lambda: broker.unsettled == 0)
        assert store.value("balance") == "101"  # retried on fresh data, applied once
        assert broker.nacked == [] and broker.dead_letters == []
        assert calls == 2

    run(scenario)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"concurrency": 0}, {"dedup_window": 0.0}, {"dedup_window": -1.0}],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DedupConsumer(InMemoryBroker(), InMemoryStore(), count_effect, **kwargs)  # type: ignore[arg-type]
