"""Public tests for part 1: IdempotencyLayer on one event loop with an injected clock.

Each test runs its scenario with ``asyncio.run``, so no pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from idempotency import IdempotencyLayer, InProgress, KeyReused


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Operation:
    """An operation that counts its calls and returns ``value`` (or raises ``error``)."""

    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.value


def test_a_new_key_runs_once_then_replays() -> None:
    async def scenario() -> None:
        layer = IdempotencyLayer(ttl=60.0, lease=10.0, clock=ManualClock())
        charge = Operation({"charge": "ch_1", "amount": 500})
        first = await layer.execute("k1", "fp-a", charge)
        second = await layer.execute("k1", "fp-a", charge)
        assert first == second == {"charge": "ch_1", "amount": 500}
        assert charge.calls == 1

    asyncio.run(scenario())


def test_mutating_a_replay_does_not_change_later_replays() -> None:
    async def scenario() -> None:
        layer = IdempotencyLayer(ttl=60.0, lease=10.0, clock=ManualClock())
        await layer.execute("k1", "fp-a", Operation({"items": [1, 2]}))
        replay = await layer.execute("k1", "fp-a", Operation())
        replay["items"].append(3)
        assert await layer.execute("k1", "fp-a", Operation()) == {"items": [1, 2]}

    asyncio.run(scenario())


def test_a_different_fingerprint_raises_key_reused() -> None:
    async def scenario() -> None:
        layer = IdempotencyLayer(ttl=60.0, lease=10.0, clock=ManualClock())
        await layer.execute("k1", "fp-a", Operation("done"))
        other = Operation("other")
        with pytest.raises(KeyReused):
            await layer.execute("k1", "fp-b", other)
        assert other.calls == 0

    asyncio.run(scenario())


def test_a_running_key_raises_in_progress_with_the_time_left_on_its_lease() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        layer = IdempotencyLayer(ttl=60.0, lease=10.0, clock=clock)
        started, release = asyncio.Event(), asyncio.Event()

        async def slow() -> str:
            started.set()
            await release.wait()
            return "done"

        first = asyncio.create_task(layer.execute("k1", "fp-a", slow))
        await started.wait()  # the first call has claimed the key and `slow` is running
        clock.advance(3.0)
        duplicate = Operation("duplicate")
        with pytest.raises(InProgress) as caught:
            await layer.execute("k1", "fp-a", duplicate)
        assert caught.value.retry_after == pytest.approx(7.0)
        assert duplicate.calls == 0
        release.set()
        assert await first == "done"

    asyncio.run(scenario())


def test_a_failure_is_not_replayed() -> None:
    async def scenario() -> None:
        layer = IdempotencyLayer(ttl=60.0, lease=10.0, clock=ManualClock())
        error = RuntimeError("card declined")
        with pytest.raises(RuntimeError) as caught:
            await layer.execute("k1", "fp-a", Operation(error=error))
        assert caught.value is error
        retry = Operation("charged")
        assert await layer.execute("k1", "fp-a", retry) == "charged"
        assert retry.calls == 1

    asyncio.run(scenario())


def test_a_record_expires_after_ttl() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        layer = IdempotencyLayer(ttl=60.0, lease=10.0, clock=clock)
        await layer.execute("k1", "fp-a", Operation("first"))
        clock.advance(61.0)
        again = Operation("second")
        assert await layer.execute("k1", "fp-b", again) == "second"
        assert again.calls == 1

    asyncio.run(scenario())


@pytest.mark.parametrize("key", ["", "k" * 256, 42])
def test_a_bad_key_raises_value_error(key: Any) -> None:
    async def scenario() -> None:
        layer = IdempotencyLayer(ttl=60.0, lease=10.0, clock=ManualClock())
        operation = Operation("never")
        with pytest.raises(ValueError):
            await layer.execute(key, "fp-a", operation)
        assert operation.calls == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(("ttl", "lease"), [(0, 10.0), (60.0, -1.0), (float("inf"), 10.0)])
def test_bad_ttl_or_lease_raises_value_error(ttl: float, lease: float) -> None:
    with pytest.raises(ValueError):
        IdempotencyLayer(ttl=ttl, lease=lease, clock=ManualClock())
