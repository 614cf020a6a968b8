"""My own tests for the rate limiter (parts 1-3), written against the statement only.

The single-threaded rules are checked against a small model of the token bucket,
driven by a seeded random walk, with rates that are powers of two and times on a
1/8 s grid so that every float is exact and decisions can be compared with ==.
Forgetting idle keys is checked by flooding the limiter with new keys (whatever
triggers a sweep, thousands of new keys will) and asking whether a key that was
not yet full again is still remembered as not full.
"""

from __future__ import annotations

import math
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis_server
from rate_limiter import Decision, RedisTokenBucketLimiter, TokenBucketLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Model:
    """The token bucket as the statement defines it (per-key latest time)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key: str, cost: int, now: float) -> Decision:
        tokens, last = self.buckets.get(key, (float(self.burst), now))
        if now > last:
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            last = now
        if tokens >= cost:
            tokens -= cost
            self.buckets[key] = (tokens, last)
            return Decision(True, math.floor(tokens), 0.0)
        self.buckets[key] = (tokens, last)
        return Decision(False, math.floor(tokens), (cost - tokens) / self.rate)


def flood(limiter: TokenBucketLimiter, n: int = 3000, tag: str = "flood") -> None:
    for i in range(n):
        limiter.try_acquire(f"{tag}-{i}")


# ---------------------------------------------------------------- part 1: the model


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("rate", "burst"), [(2.0, 3), (0.5, 4), (4.0, 1), (1.0, 10)])
def test_random_walk_matches_the_model(seed: int, rate: float, burst: int) -> None:
    rng = random.Random(seed)
    clock = Clock()
    limiter = TokenBucketLimiter(rate=rate, burst=burst, clock=clock)
    model = Model(rate, burst)
    for step in range(400):
        clock.now += rng.choice([0.0, 0.0, 0.125, 0.25, 0.375, 1.0, 2.5, 40.0])
        key = rng.choice("abc")
        cost = rng.randint(1, burst)
        expected = model.acquire(key, cost, clock.now)
        got = limiter.try_acquire(key, cost)
        assert got == expected, f"step {step}: {key=} {cost=} at {clock.now}"


def test_statement_example() -> None:
    clock = Clock(100.0)
    limiter = TokenBucketLimiter(rate=2.0, burst=2, clock=clock)
    assert limiter.try_acquire("alice", cost=2) == Decision(True, 0, 0.0)
    clock.now = 100.25
    assert limiter.try_acquire("alice") == Decision(False, 0, 0.25)
    clock.now = 100.5
    assert limiter.try_acquire("alice") == Decision(True, 0, 0.0)
    assert limiter.try_acquire("bob") == Decision(True, 1, 0.0)


def test_whole_burst_in_one_request_is_allowed() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=3, clock=Clock())
    assert limiter.try_acquire("k", cost=3) == Decision(True, 0, 0.0)
    assert limiter.try_acquire("k", cost=1).allowed is False


def test_keys_are_independent() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=Clock())
    assert limiter.try_acquire("a", cost=2).allowed
    assert limiter.try_acquire("b", cost=2) == Decision(True, 0, 0.0)


def test_remaining_is_the_floor() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=4, clock=clock)
    limiter.try_acquire("k", cost=4)
    clock.now += 2.75
    assert limiter.try_acquire("k") == Decision(True, 1, 0.0)  # 1.75 left


def test_polling_faster_than_one_token_still_refills() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=clock)
    limiter.try_acquire("k")
    for _ in range(3):
        clock.now += 0.25
        assert not limiter.try_acquire("k").allowed
    clock.now += 0.25
    assert limiter.try_acquire("k").allowed


def test_a_denial_keeps_the_refill_earned_so_far() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=clock)
    limiter.try_acquire("k", cost=2)
    clock.now += 1.5
    denied = limiter.try_acquire("k", cost=2)
    assert denied == Decision(False, 1, 0.5)
    clock.now += 0.5
    assert limiter.try_acquire("k", cost=2).allowed


def test_refill_never_goes_above_burst() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=clock)
    limiter.try_acquire("k")
    clock.now += 3600
    assert limiter.try_acquire("k", cost=2) == Decision(True, 0, 0.0)
    assert not limiter.try_acquire("k").allowed


def test_retry_after_counts_the_partial_token() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=2.0, burst=3, clock=clock)
    limiter.try_acquire("k", cost=3)
    clock.now += 0.75  # 1.5 tokens
    assert limiter.try_acquire("k", cost=3) == Decision(False, 1, 0.75)


def test_just_before_retry_after_is_still_denied() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=clock)
    limiter.try_acquire("k")
    denied = limiter.try_acquire("k")
    assert denied.retry_after == pytest.approx(1.0)
    clock.now += denied.retry_after - 1e-5  # short by 1e-5 tokens: ten times the float slack
    assert not limiter.try_acquire("k").allowed
    clock.now += 1e-5
    assert limiter.try_acquire("k").allowed


# ---------------------------------------------------------------- part 1: validation


@pytest.mark.parametrize("rate", [0, -1.0, math.nan, math.inf, -math.inf, "1"])
def test_bad_rates_raise(rate: object) -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate=rate, burst=1, clock=Clock())  # type: ignore[arg-type]


@pytest.mark.parametrize("burst", [0, -1, 2.0, 1.5, "2"])
def test_bad_bursts_raise(burst: object) -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate=1.0, burst=burst, clock=Clock())  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [0, -1, 4, 1.5, 2.0])
def test_bad_costs_raise(cost: object) -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=3, clock=Clock())
    with pytest.raises(ValueError):
        limiter.try_acquire("k", cost=cost)  # type: ignore[arg-type]


def test_int_rate_is_fine() -> None:
    assert TokenBucketLimiter(rate=2, burst=1, clock=Clock()).try_acquire("k").allowed


# ---------------------------------------------------------------- part 1: clock jumps


def test_clock_going_back_and_forth_creates_no_tokens() -> None:
    clock = Clock(100.0)
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=clock)
    limiter.try_acquire("k", cost=2)
    clock.now = 50.0
    assert not limiter.try_acquire("k").allowed
    clock.now = 100.0
    assert not limiter.try_acquire("k").allowed
    clock.now = 101.0
    assert limiter.try_acquire("k") == Decision(True, 0, 0.0)


def test_a_denial_while_the_clock_is_behind_does_not_say_retry_now() -> None:
    clock = Clock(100.0)
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=clock)
    limiter.try_acquire("k")
    clock.now = 99.0
    denied = limiter.try_acquire("k")
    assert not denied.allowed
    assert denied.retry_after > 0


def test_a_new_key_seen_while_the_clock_is_behind_gets_no_free_refill() -> None:
    clock = Clock(100.0)
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=clock)
    limiter.try_acquire("old")
    clock.now = 50.0
    assert limiter.try_acquire("new", cost=2).allowed
    assert not limiter.try_acquire("new").allowed  # no time passed for "new"


# ---------------------------------------------------------------- part 1: forgetting


@pytest.mark.parametrize(
    ("rate", "burst", "calls", "then", "cost"),
    [
        # drained, then idle for half of burst/rate: only half refilled
        (0.5, 4, [(0.0, 4)], 5.0, 3),
        # 3.75 of 4 tokens back: not full, must not be forgotten
        (0.5, 4, [(0.0, 4)], 7.5, 4),
        # used again late: idleness counts from the last use, not the first
        (0.5, 4, [(0.0, 1), (7.0, 4)], 9.0, 2),
        (1.0, 10, [(0.0, 10)], 5.0, 6),
    ],
)
def test_a_key_that_is_not_full_again_is_not_forgotten(
    rate: float, burst: int, calls: list[tuple[float, int]], then: float, cost: int
) -> None:
    clock = Clock(0.0)
    limiter = TokenBucketLimiter(rate=rate, burst=burst, clock=clock)
    for at, c in calls:
        clock.now = at
        assert limiter.try_acquire("k", cost=c).allowed
    clock.now = then
    flood(limiter)
    assert not limiter.try_acquire("k", cost=cost).allowed


def test_a_full_key_comes_back_full_after_forgetting() -> None:
    clock = Clock(0.0)
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=clock)
    limiter.try_acquire("k", cost=2)
    clock.now = 10.0
    flood(limiter)
    assert limiter.try_acquire("k", cost=2) == Decision(True, 0, 0.0)


# ---------------------------------------------------------------- part 2: threads


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def race(n: int, target: Callable[[int], None]) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.usefixtures("tiny_switch_interval")
def test_threads_on_a_new_key_get_exactly_burst() -> None:
    for round_ in range(40):
        limiter = TokenBucketLimiter(rate=1.0, burst=3, clock=Clock())
        allowed: list[bool] = []
        key = f"k{round_}"
        errors = race(
            8, lambda _i, lim=limiter, out=allowed, k=key: out.append(lim.try_acquire(k).allowed)
        )
        assert not errors
        assert sum(allowed) == 3


@pytest.mark.usefixtures("tiny_switch_interval")
def test_threads_adding_many_keys_while_others_sweep() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=clock)

    def work(i: int) -> None:
        for j in range(1500):
            limiter.try_acquire(f"t{i}-{j}")
            if j % 100 == 0:
                clock.now += 5.0

    assert race(6, work) == []


# ---------------------------------------------------------------- part 3: Redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    try:
        with redis_server.running() as server:
            yield server.url
    except redis_server.NoRedis as exc:  # say so, rather than fail everything else
        pytest.skip(f"no Redis here: {exc}")


def client_for(url: str, cls: type[redis.Redis] = redis.Redis) -> redis.Redis:
    return cls.from_url(
        url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
    )


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    c = client_for(redis_url)
    c.flushdb()
    return c


class Recording(redis.Redis):
    """A client that remembers every command name it sent."""

    sent: list[str]

    def execute_command(self, *args, **options):  # type: ignore[no-untyped-def]
        self.__dict__.setdefault("sent", []).append(str(args[0]).upper())
        return super().execute_command(*args, **options)


def keys_of(client: redis.Redis, prefix: str) -> list[bytes]:
    return list(client.scan_iter(match=prefix + "*"))


def test_redis_model_basics(client: redis.Redis) -> None:
    limiter = RedisTokenBucketLimiter(client, rate=0.001, burst=3, prefix="m:")
    assert limiter.try_acquire("u", cost=3) == Decision(True, 0, 0.0)
    denied = limiter.try_acquire("u")
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(1000.0, rel=1e-2)
    assert limiter.try_acquire("v") == Decision(True, 2, 0.0)


def test_redis_denial_spends_nothing(client: redis.Redis) -> None:
    limiter = RedisTokenBucketLimiter(client, rate=1.0, burst=2, prefix="d:")
    assert limiter.try_acquire("u", cost=2).allowed
    time.sleep(1.2)  # 1.2 tokens back (anything in [1, 2) will do: room for a slow machine)
    assert not limiter.try_acquire("u", cost=2).allowed
    assert limiter.try_acquire("u", cost=1).allowed


def test_redis_one_script_call_per_decision(redis_url: str) -> None:
    rec = client_for(redis_url, Recording)
    rec.flushdb()
    limiter = RedisTokenBucketLimiter(rec, rate=1.0, burst=5, prefix="one:")
    limiter.try_acquire("u")
    for _ in range(5):
        rec.sent = []
        limiter.try_acquire("u")
        data = [c for c in rec.sent if c not in ("SCRIPT LOAD", "SCRIPT")]
        assert len(data) == 1 and data[0] in ("EVAL", "EVALSHA"), rec.sent


def test_redis_time_comes_from_the_server(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RedisTokenBucketLimiter(client, rate=0.01, burst=2, prefix="skew:")
    assert limiter.try_acquire("u", cost=2).allowed
    real_time, real_mono = time.time, time.monotonic
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    monkeypatch.setattr(time, "monotonic", lambda: real_mono() + 3600)
    assert not limiter.try_acquire("u").allowed
    other = RedisTokenBucketLimiter(client, rate=0.01, burst=2, prefix="skew:")
    assert not other.try_acquire("u").allowed


def test_redis_keys_live_until_the_bucket_is_full_again(client: redis.Redis) -> None:
    limiter = RedisTokenBucketLimiter(client, rate=0.1, burst=2, prefix="ttl:")
    assert limiter.try_acquire("u").allowed
    assert limiter.try_acquire("u").allowed  # drained: full again in 20 s
    assert not limiter.try_acquire("u").allowed  # a denial must not shorten that
    keys = keys_of(client, "ttl:")
    assert keys
    for k in keys:
        assert 19_000 <= client.pttl(k) <= (10 * 20 + 3600) * 1000


def test_redis_expiry_moves_with_later_use(client: redis.Redis) -> None:
    limiter = RedisTokenBucketLimiter(client, rate=2.5, burst=10, prefix="late:")
    assert limiter.try_acquire("u").allowed  # 9 left: full again in 0.4 s
    time.sleep(3.0)
    assert limiter.try_acquire("u", cost=10).allowed  # 0 left: full again in 4 s
    keys = keys_of(client, "late:")
    assert keys
    for k in keys:
        assert client.pttl(k) >= 3500


def test_redis_script_lost_after_a_restart_is_loaded_again(client: redis.Redis) -> None:
    limiter = RedisTokenBucketLimiter(client, rate=0.001, burst=2, prefix="flush:")
    assert limiter.try_acquire("u").allowed
    client.script_flush()
    assert limiter.try_acquire("u") == Decision(True, 0, 0.0)


def test_redis_error_replies_give_the_fail_decision(client: redis.Redis) -> None:
    for fail_open in (True, False):
        prefix = f"wrong{fail_open}:"
        limiter = RedisTokenBucketLimiter(
            client, rate=1.0, burst=2, prefix=prefix, fail_open=fail_open
        )
        limiter.try_acquire("u")
        for k in keys_of(client, prefix):
            client.delete(k)
            client.rpush(k, "not a bucket")  # every command on it answers WRONGTYPE
        assert limiter.try_acquire("u") == Decision(fail_open, 0, 0.0)


@pytest.fixture
def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redis_down_gives_the_fail_decision(dead_port: int) -> None:
    dead = client_for(f"redis://127.0.0.1:{dead_port}/0")
    for fail_open in (True, False):
        limiter = RedisTokenBucketLimiter(dead, rate=1.0, burst=1, fail_open=fail_open)
        assert limiter.try_acquire("u") == Decision(fail_open, 0, 0.0)


def test_redis_down_still_validates_cost(dead_port: int) -> None:
    dead = client_for(f"redis://127.0.0.1:{dead_port}/0")
    limiter = RedisTokenBucketLimiter(dead, rate=1.0, burst=2, fail_open=True)
    with pytest.raises(ValueError):
        limiter.try_acquire("u", cost=3)


def test_redis_that_never_answers_costs_one_timeout() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)  # accepts connections, never answers
        port = server.getsockname()[1]
        limiter = RedisTokenBucketLimiter(
            client_for(f"redis://127.0.0.1:{port}/0"), rate=1.0, burst=1, fail_open=True
        )
        started = time.monotonic()
        assert limiter.try_acquire("u") == Decision(True, 0, 0.0)
        assert time.monotonic() - started < 1.5  # one 0.25 s timeout, not several


def test_redis_threads_with_their_own_clients_share_one_limit(redis_url: str) -> None:
    for round_ in range(10):
        limiters = [
            RedisTokenBucketLimiter(client_for(redis_url), rate=0.001, burst=3, prefix="race:")
            for _ in range(8)
        ]
        allowed: list[bool] = []
        key = f"k{round_}"
        errors = race(
            8, lambda i, ls=limiters, out=allowed, k=key: out.append(ls[i].try_acquire(k).allowed)
        )
        assert not errors
        assert sum(allowed) == 3


def test_redis_another_process_shares_the_bucket(client: redis.Redis, redis_url: str) -> None:
    limiter = RedisTokenBucketLimiter(client, rate=0.001, burst=2, prefix="proc:")
    assert limiter.try_acquire("user", cost=2).allowed
    here = Path(__file__).resolve().parent.parent
    code = (
        "import sys, redis; sys.path.insert(0, sys.argv[1]);"
        "from rate_limiter import RedisTokenBucketLimiter as L;"
        "c = redis.Redis.from_url(sys.argv[2], socket_timeout=1);"
        "print(L(c, rate=0.001, burst=2, prefix='proc:').try_acquire('user').allowed)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(here), redis_url],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PYTHONHASHSEED": "12345"},
        check=True,
    )
    assert done.stdout.strip() == "False"
