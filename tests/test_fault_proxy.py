"""The fault proxy does to a real redis-py client what each mode promises, at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dskata import redis_server
from dskata.chaos.proxy import FaultProxy

TIMEOUT_S = 0.25


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis_server.Server]:
    with redis_server.running(tmp_path_factory.mktemp("redis")) as s:
        yield s


@pytest.fixture
def proxy(server: redis_server.Server) -> Iterator[FaultProxy]:
    with FaultProxy(server.host, server.port) as p:
        yield p


def _client(proxy: FaultProxy) -> redis.Redis:
    return redis.Redis(
        host=proxy.host,
        port=proxy.port,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )


def _timed(client: redis.Redis) -> tuple[object, float]:
    started = time.monotonic()
    try:
        result: object = client.set("k", "v")
    except redis.RedisError as exc:
        result = exc
    return result, time.monotonic() - started


def test_pass_forwards_unchanged(proxy: FaultProxy) -> None:
    client = _client(proxy)
    assert client.set("k", "v") and client.get("k") == b"v"
    assert proxy.stats.connections >= 1 and proxy.stats.requests >= 2


def test_latency_delays_every_request(proxy: FaultProxy) -> None:
    client = _client(proxy)
    client.ping()
    proxy.set("latency", delay_s=0.1)
    result, took = _timed(client)
    assert result is True and 0.1 <= took < 0.2


def test_blackhole_times_out_after_one_socket_timeout(proxy: FaultProxy) -> None:
    client = _client(proxy)
    client.ping()
    proxy.set("blackhole")
    result, took = _timed(client)
    assert isinstance(result, redis.TimeoutError)
    assert TIMEOUT_S <= took < TIMEOUT_S + 0.2


@pytest.mark.parametrize("mode", ["reset", "cut"])
def test_reset_and_cut_fail_at_once(proxy: FaultProxy, mode: str) -> None:
    client = _client(proxy)
    client.ping()
    proxy.set(mode)  # type: ignore[arg-type]
    result, took = _timed(client)
    assert isinstance(result, redis.ConnectionError)
    assert took < TIMEOUT_S


def test_cut_delivers_the_request_but_not_the_whole_reply(
    proxy: FaultProxy, server: redis_server.Server
) -> None:
    client = _client(proxy)
    client.ping()
    proxy.set("cut")
    with pytest.raises(redis.ConnectionError):
        client.set("cut-key", "written")
    assert redis.Redis.from_url(server.url).get("cut-key") == b"written"


def test_heal_lets_a_client_reconnect(proxy: FaultProxy) -> None:
    client = _client(proxy)
    client.ping()
    proxy.set("reset")
    _timed(client)
    proxy.heal()
    assert client.ping()


def test_unknown_mode_is_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="mode"):
        proxy.set("slow")  # type: ignore[arg-type]


def test_close_frees_the_port(server: redis_server.Server, tmp_path: Path) -> None:
    proxy = FaultProxy(server.host, server.port)
    port = proxy.port
    _client(proxy).ping()
    proxy.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_connect_timeout=TIMEOUT_S, retry=Retry(NoBackoff(), 0)).ping()


def test_latency_spares_the_next_requests(proxy: FaultProxy) -> None:
    client = _client(proxy)
    client.ping()
    proxy.set("latency", delay_s=0.1, spare=1)
    first, took_first = _timed(client)
    second, took_second = _timed(client)
    assert first is True and took_first < 0.05
    assert second is True and 0.1 <= took_second < 0.2
