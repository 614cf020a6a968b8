"""My own tests for the idempotency layer (parts 1-2), written against the statement only.

Part 1 runs in one event loop with a clock moved by hand; an operation that waits on
an ``asyncio.Event`` stands for a request that is still running. Part 2 runs against a
real Redis from ``redis_server.py``, with real (short) leases and ttls.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import redis_server
from idempotency import IdempotencyLayer, InProgress, KeyReused, RedisIdempotencyLayer
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Op:
    """Counts its calls; returns ``value``, raises ``error``, or waits for ``release``."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error, self.calls = value, error, 0
        self.started = asyncio.Event()
        self.release: asyncio.Event | None = None

    def held(self) -> Op:
        self.release = asyncio.Event()
        return self

    async def __call__(self) -> Any:
        self.calls += 1
        self.started.set()
        if self.release is not None:
            await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.value


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def promptly(call: Awaitable[Any]) -> Awaitable[Any]:
    """A duplicate must answer at once, never wait for the running call."""
    return asyncio.wait_for(call, 2.0)


async def started(op: Op, call: Awaitable[Any]) -> asyncio.Task[Any]:
    task = asyncio.ensure_future(call)
    await asyncio.wait_for(op.started.wait(), 2.0)
    return task


# ---------------------------------------------------------------- part 1


def test_statement_example() -> None:
    async def main() -> None:
        clock = Clock(1000.0)
        layer = IdempotencyLayer(ttl=60, lease=10, clock=clock)
        charge = Op({"id": 7}).held()
        first = await started(charge, layer.execute("k1", "fp-a", charge))
        clock.now = 1002
        with pytest.raises(InProgress) as caught:
            await promptly(layer.execute("k1", "fp-a", Op()))
        assert caught.value.retry_after == pytest.approx(8.0, abs=1e-6)
        refund = Op("refund")
        with pytest.raises(KeyReused):
            await promptly(layer.execute("k1", "fp-b", refund))
        clock.now = 1003
        assert charge.release is not None
        charge.release.set()
        assert await first == {"id": 7}
        clock.now = 1004
        assert await layer.execute("k1", "fp-a", charge) == {"id": 7}
        assert charge.calls == 1
        clock.now = 1063.5
        assert await layer.execute("k1", "fp-b", refund) == "refund"
        assert refund.calls == 1

    run(main)


def test_a_duplicate_never_waits_for_the_running_call() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(ttl=60, lease=10, clock=Clock())
        op = Op("x").held()
        first = await started(op, layer.execute("k", "fp", op))
        with pytest.raises(InProgress):
            await promptly(layer.execute("k", "fp", Op()))
        first.cancel()

    run(main)


def test_concurrent_calls_run_the_operation_once() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(ttl=60, lease=10, clock=Clock())
        op = Op("once")

        async def slow() -> Any:
            await asyncio.sleep(0.01)
            return await op()

        results = await asyncio.gather(
            *(layer.execute("k", "fp", slow) for _ in range(10)), return_exceptions=True
        )
        assert op.calls == 1
        assert results.count("once") == 1
        assert all(isinstance(r, InProgress) for r in results if r != "once")

    run(main)


def test_a_running_key_with_another_fingerprint_is_key_reused() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(ttl=60, lease=10, clock=Clock())
        op = Op().held()
        task = await started(op, layer.execute("k", "fp-a", op))
        with pytest.raises(KeyReused):
            await promptly(layer.execute("k", "fp-b", Op()))
        task.cancel()

    run(main)


def test_a_completed_key_with_another_fingerprint_is_key_reused() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(ttl=60, lease=10, clock=Clock())
        assert await layer.execute("k", "fp-a", Op(1)) == 1
        other = Op(2)
        with pytest.raises(KeyReused):
            await layer.execute("k", "fp-b", other)
        assert other.calls == 0

    run(main)


def test_a_failure_releases_the_key_and_is_not_replayed() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(ttl=60, lease=10, clock=Clock())
        error = RuntimeError("declined")
        with pytest.raises(RuntimeError) as caught:
            await layer.execute("k", "fp", Op(error=error))
        assert caught.value is error
        retry = Op("ok")
        assert await layer.execute("k", "fp", retry) == "ok"
        assert retry.calls == 1

    run(main)


def test_a_cancelled_caller_releases_the_key() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(ttl=60, lease=10, clock=Clock())
        op = Op().held()
        task = await started(op, layer.execute("k", "fp", op))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        retry = Op("again")
        assert await layer.execute("k", "fp", retry) == "again"

    run(main)


def test_none_is_a_result_like_any_other() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(ttl=60, lease=10, clock=Clock())
        op = Op(None)
        assert await layer.execute("k", "fp", op) is None
        assert await layer.execute("k", "fp", op) is None
        assert op.calls == 1

    run(main)


def test_replays_are_deep_copies() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(ttl=60, lease=10, clock=Clock())
        first = await layer.execute("k", "fp", Op({"items": [1], "meta": {"a": 1}}))
        first["items"].append("mine")
        second = await layer.execute("k", "fp", Op())
        assert second == {"items": [1], "meta": {"a": 1}}
        second["items"].append(2)
        second["meta"]["a"] = 99
        second["new"] = True
        assert await layer.execute("k", "fp", Op()) == {"items": [1], "meta": {"a": 1}}

    run(main)


def test_retry_after_is_the_time_left_on_the_lease() -> None:
    async def main() -> None:
        clock = Clock(1000.0)
        layer = IdempotencyLayer(ttl=60, lease=30, clock=clock)
        op = Op().held()
        task = await started(op, layer.execute("k", "fp", op))
        clock.now = 1029.0
        with pytest.raises(InProgress) as caught:
            await promptly(layer.execute("k", "fp", Op()))
        assert caught.value.retry_after == pytest.approx(1.0, abs=1e-6)
        task.cancel()

    run(main)


def test_an_expired_lease_is_taken_over() -> None:
    async def main() -> None:
        clock = Clock(1000.0)
        layer = IdempotencyLayer(ttl=60, lease=10, clock=clock)
        stuck = Op().held()
        task = await started(stuck, layer.execute("k", "fp", stuck))
        clock.now = 1010.5
        takeover = Op("second")
        assert await layer.execute("k", "fp", takeover) == "second"
        task.cancel()

    run(main)


def test_a_stale_executor_does_not_overwrite_the_newer_result() -> None:
    async def main() -> None:
        clock = Clock(1000.0)
        layer = IdempotencyLayer(ttl=60, lease=10, clock=clock)
        stale = Op("stale").held()
        task = await started(stale, layer.execute("k", "fp", stale))
        clock.now = 1011
        newer = Op("newer").held()
        newer_task = await started(newer, layer.execute("k", "fp", newer))
        assert stale.release is not None and newer.release is not None
        stale.release.set()
        assert await task == "stale"  # its own caller still gets its result
        with pytest.raises(InProgress):  # the newer claim is still running
            await promptly(layer.execute("k", "fp", Op()))
        newer.release.set()
        assert await newer_task == "newer"
        assert await layer.execute("k", "fp", Op()) == "newer"

    run(main)


def test_a_stale_executor_failing_does_not_free_the_newer_claim() -> None:
    async def main() -> None:
        clock = Clock(1000.0)
        layer = IdempotencyLayer(ttl=60, lease=10, clock=clock)
        stale = Op(error=ValueError("late")).held()
        task = await started(stale, layer.execute("k", "fp", stale))
        clock.now = 1011
        newer = Op("newer").held()
        newer_task = await started(newer, layer.execute("k", "fp", newer))
        assert stale.release is not None
        stale.release.set()
        with pytest.raises(ValueError):
            await task
        third = Op("third")
        with pytest.raises(InProgress):
            await promptly(layer.execute("k", "fp", third))
        assert third.calls == 0
        newer_task.cancel()

    run(main)


def test_the_ttl_counts_from_completion() -> None:
    async def main() -> None:
        clock = Clock(1000.0)
        layer = IdempotencyLayer(ttl=10, lease=30, clock=clock)
        op = Op("done").held()
        task = await started(op, layer.execute("k", "fp", op))
        clock.now = 1005
        assert op.release is not None
        op.release.set()
        assert await task == "done"
        clock.now = 1014  # 14 s after the claim, 9 s after completion
        assert await layer.execute("k", "fp", op) == "done"
        assert op.calls == 1
        clock.now = 1015.5
        assert await layer.execute("k", "fp", Op("fresh")) == "fresh"

    run(main)


def test_records_survive_sweeps_until_their_ttl() -> None:
    async def main() -> None:
        clock = Clock(1000.0)
        layer = IdempotencyLayer(ttl=100, lease=10, clock=clock)
        op = Op("kept")
        assert await layer.execute("k", "fp", op) == "kept"
        clock.now = 1020  # the claim's lease is long over; the record is not
        for i in range(3000):  # enough new keys for any sweep to run
            await layer.execute(f"other-{i}", "fp", Op(i))
        assert await layer.execute("k", "fp", op) == "kept"
        assert op.calls == 1

    run(main)


@pytest.mark.parametrize("key", ["", "k" * 256, 5, None, b"bytes"])
def test_bad_keys_raise_before_anything_runs(key: Any) -> None:
    async def main() -> None:
        op = Op()
        with pytest.raises(ValueError):
            await IdempotencyLayer(clock=Clock()).execute(key, "fp", op)
        assert op.calls == 0

    run(main)


def test_keys_are_counted_in_characters() -> None:
    async def main() -> None:
        layer = IdempotencyLayer(clock=Clock())
        assert await layer.execute("é" * 255, "fp", Op("ok")) == "ok"
        assert await layer.execute("k" * 255, "fp", Op("ok")) == "ok"

    run(main)


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf])
def test_bad_ttl_and_lease_raise(value: float) -> None:
    with pytest.raises(ValueError):
        IdempotencyLayer(ttl=value, clock=Clock())
    with pytest.raises(ValueError):
        IdempotencyLayer(lease=value, clock=Clock())


# ---------------------------------------------------------------- part 2: Redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    try:
        with redis_server.running() as server:
            yield server.url
    except redis_server.NoRedis as exc:  # say so, rather than fail everything else
        pytest.skip(f"no Redis here: {exc}")


def client_for(url: str) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(
        url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
    )


Scenario = Callable[[redis.asyncio.Redis, str], Awaitable[None]]


def on_redis(url: str, scenario: Scenario) -> None:
    async def main() -> None:
        client = client_for(url)
        try:
            await client.flushdb()
            await scenario(client, url)
        finally:
            await client.aclose()

    asyncio.run(main())


def test_redis_basics(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, _url: str) -> None:
        layer = RedisIdempotencyLayer(client, ttl=60, lease=10)
        op = Op({"a": [1]})
        assert await layer.execute("k", "fp", op) == {"a": [1]}
        assert await layer.execute("k", "fp", op) == {"a": [1]}
        assert op.calls == 1
        with pytest.raises(KeyReused):
            await layer.execute("k", "other", op)

    on_redis(redis_url, scenario)


def test_redis_many_clients_claim_once(redis_url: str) -> None:
    async def scenario(_client: redis.asyncio.Redis, url: str) -> None:
        clients = [client_for(url) for _ in range(8)]
        op = Op("once")

        async def slow() -> Any:
            await asyncio.sleep(0.2)
            return await op()

        for c in clients:
            await c.ping()
        layers = [RedisIdempotencyLayer(c, ttl=60, lease=10) for c in clients]
        results = await asyncio.gather(
            *(la.execute("k", "fp", slow) for la in layers), return_exceptions=True
        )
        for c in clients:
            await c.aclose()
        assert op.calls == 1, results

    on_redis(redis_url, scenario)


def test_redis_a_running_claim_expires_on_the_server(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, _url: str) -> None:
        layer = RedisIdempotencyLayer(client, ttl=60, lease=1.5, prefix="lease:")
        op = Op().held()
        claimed = time.monotonic()
        task = await started(op, layer.execute("k", "fp", op))
        keys = [k async for k in client.scan_iter(match="lease:*")]
        assert keys
        for k in keys:
            assert 0 < await client.pttl(k) <= 1500
        # duplicates asking during the first second do not keep the claim alive
        while time.monotonic() - claimed < 1.0:
            with pytest.raises(InProgress):
                await promptly(layer.execute("k", "fp", Op()))
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.8 - (time.monotonic() - claimed))
        assert await layer.execute("k", "fp", Op("second")) == "second"
        task.cancel()

    on_redis(redis_url, scenario)


def test_redis_stale_executor_is_fenced_in_one_process(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, _url: str) -> None:
        short = RedisIdempotencyLayer(client, ttl=60, lease=0.3)
        layer = RedisIdempotencyLayer(client, ttl=60, lease=10)  # same process, same client
        stale = Op("stale").held()
        task = await started(stale, short.execute("k", "fp", stale))
        await asyncio.sleep(0.45)
        newer = Op("newer").held()
        newer_task = await started(newer, layer.execute("k", "fp", newer))
        assert stale.release is not None and newer.release is not None
        stale.release.set()
        assert await task == "stale"
        with pytest.raises(InProgress):
            await promptly(layer.execute("k", "fp", Op()))
        newer.release.set()
        assert await newer_task == "newer"
        assert await layer.execute("k", "fp", Op()) == "newer"

    on_redis(redis_url, scenario)


def test_redis_stale_executor_is_fenced_across_layers(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, url: str) -> None:
        other = client_for(url)
        a = RedisIdempotencyLayer(client, ttl=60, lease=0.3)
        b = RedisIdempotencyLayer(other, ttl=60, lease=5)
        for key, stale in (("k1", Op("stale")), ("k2", Op(error=ValueError("late")))):
            stale.held()
            task = await started(stale, a.execute(key, "fp", stale))
            await asyncio.sleep(0.45)
            newer = Op("newer").held()
            newer_task = await started(newer, b.execute(key, "fp", newer))
            assert stale.release is not None
            stale.release.set()
            with pytest.raises(ValueError) if stale.error else _nothing():
                await task
            third = Op()
            with pytest.raises(InProgress):
                await a.execute(key, "fp", third)
            assert third.calls == 0
            newer_task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await newer_task
        await other.aclose()

    on_redis(redis_url, scenario)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_redis_cancelled_caller_releases(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, _url: str) -> None:
        layer = RedisIdempotencyLayer(client, ttl=60, lease=10)
        op = Op().held()
        task = await started(op, layer.execute("k", "fp", op))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await layer.execute("k", "fp", Op("again")) == "again"

    on_redis(redis_url, scenario)


def test_redis_ttl_counts_from_completion(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, _url: str) -> None:
        layer = RedisIdempotencyLayer(client, ttl=2.0, lease=10, prefix="ttl:")
        op = Op("done")

        async def slow() -> Any:
            await asyncio.sleep(1.2)
            return await op()

        assert await layer.execute("k", "fp", slow) == "done"
        for k in [k async for k in client.scan_iter(match="ttl:*")]:
            assert 0 < await client.pttl(k) <= 2000
        await asyncio.sleep(1.0)  # 2.2 s after the claim, 1 s after completion
        assert await layer.execute("k", "fp", slow) == "done"
        assert op.calls == 1

    on_redis(redis_url, scenario)


def test_redis_scripts_lost_are_loaded_again(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, _url: str) -> None:
        layer = RedisIdempotencyLayer(client, ttl=60, lease=10)
        assert await layer.execute("k1", "fp", Op(1)) == 1
        await client.script_flush()
        assert await layer.execute("k2", "fp", Op(2)) == 2
        assert await layer.execute("k1", "fp", Op()) == 1

    on_redis(redis_url, scenario)


def test_redis_down_fails_closed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        dead = client_for(f"redis://127.0.0.1:{port}/0")
        op = Op("never")
        with pytest.raises(redis.RedisError):
            await RedisIdempotencyLayer(dead, ttl=60, lease=10).execute("k", "fp", op)
        assert op.calls == 0
        await dead.aclose()

    run(main)


def test_redis_failing_while_recording_still_returns_the_result(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, url: str) -> None:
        admin = client_for(url)
        layer = RedisIdempotencyLayer(client, ttl=60, lease=10)

        async def charge_then_pause() -> str:
            await admin.client_pause(700)  # every other client's command now waits
            return "charged"

        assert await layer.execute("k", "fp", charge_then_pause) == "charged"
        await asyncio.sleep(0.8)

        async def fail_then_pause() -> str:
            await admin.client_pause(700)
            raise KeyError("declined")

        with pytest.raises(KeyError):
            await layer.execute("k2", "fp", fail_then_pause)
        await asyncio.sleep(0.8)
        await admin.aclose()

    on_redis(redis_url, scenario)


class Watched(redis.asyncio.Redis):
    """After every command the layer sends, looks (on another connection) at the keys."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        result = await super().execute_command(*args, **options)
        admin: redis.asyncio.Redis = self.__dict__["admin"]
        async for k in admin.scan_iter(match=self.__dict__["prefix"] + "*"):
            self.__dict__["seen"].append((str(args[0]), k, await admin.pttl(k)))
        return result


def test_redis_no_key_ever_lives_without_an_expiry(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis, url: str) -> None:
        watched = Watched.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
        )
        watched.__dict__.update(admin=client, prefix="watch:", seen=[])
        layer = RedisIdempotencyLayer(watched, ttl=60, lease=10, prefix="watch:")
        assert await layer.execute("k", "fp", Op("one")) == "one"
        with pytest.raises(ValueError):
            await layer.execute("k2", "fp", Op(error=ValueError("x")))
        seen = watched.__dict__["seen"]
        assert seen
        assert all(ttl > 0 for _, _, ttl in seen), seen
        await watched.aclose()

    on_redis(redis_url, scenario)
