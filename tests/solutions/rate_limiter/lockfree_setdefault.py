"""A correct alternative: a lock-free table of buckets (dict.setdefault), one lock each.

Threads find or create a bucket without a global lock; setdefault makes sure two
threads never keep different buckets for one key. A sweep every ~1024 calls (one
thread at a time, never waiting for a bucket lock) marks full buckets dead and drops
them; a thread that finds its bucket dead after locking it looks the key up again.
Written by an adversarial review of the grader; kept as a third design.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


def _check_rate_burst(rate, burst):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise ValueError("rate")
    try:
        r = float(rate)
    except OverflowError:
        raise ValueError("rate") from None
    if not (math.isfinite(r) and r > 0):
        raise ValueError("rate")
    if type(burst) is not int or burst < 1:
        raise ValueError("burst")
    return r


def _check_cost(cost, burst):
    if type(cost) is not int or not 1 <= cost <= burst:
        raise ValueError("cost")


class _Bucket:
    __slots__ = ("dead", "last", "lock", "tokens")

    def __init__(self, burst: int) -> None:
        self.lock = threading.Lock()
        self.tokens = float(burst)
        self.last = None  # no reading yet: filled on first use
        self.dead = False


class TokenBucketLimiter:
    """One lock per bucket, none around the table; see the module docstring."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = _check_rate_burst(rate, burst)
        self._burst = burst
        self._clock = clock
        self._b: dict[str, _Bucket] = {}
        self._sweep_lock = threading.Lock()
        self._calls = 0
        self._every = 1024

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        _check_cost(cost, self._burst)
        self._calls += 1
        if self._calls >= self._every and self._sweep_lock.acquire(blocking=False):
            try:
                self._sweep()
            finally:
                self._sweep_lock.release()
        table = self._b
        while True:
            b = table.get(key)
            if b is None:
                b = table.setdefault(key, _Bucket(self._burst))
            with b.lock:
                if b.dead:
                    continue
                now = self._clock()
                if b.last is None:
                    b.last = now
                elif now > b.last:
                    b.tokens = min(float(self._burst), b.tokens + (now - b.last) * self._rate)
                    b.last = now
                tokens = b.tokens
                if tokens + 1e-9 >= cost:
                    b.tokens = tokens = max(0.0, tokens - cost)
                    return Decision(True, math.floor(tokens + 1e-9), 0.0)
                return Decision(False, math.floor(tokens + 1e-9), (cost - tokens) / self._rate)

    def _sweep(self) -> None:
        self._calls = 0
        table = self._b
        for key, b in list(table.items()):
            if not b.lock.acquire(blocking=False):
                continue
            try:
                if b.last is None:
                    continue
                now = self._clock()
                if now >= b.last and b.tokens + (now - b.last) * self._rate >= self._burst:
                    b.dead = True
                    if table.get(key) is b:
                        del table[key]
            finally:
                b.lock.release()
        self._every = max(1024, len(table))


# Part 3: the reference's hash layout, but the script is loaded by hand (lazily, so a
# limiter built while Redis is down still works later) and NOSCRIPT is handled here:
# load again, call again, once.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(h[1]) or burst
local ts = tonumber(h[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
if tokens + 1e-9 >= cost then
  tokens = math.max(0, tokens - cost)
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
             'ts', string.format('%.17g', ts))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 50)
  return {1, math.floor(tokens + 1e-9), '0'}
end
return {0, math.floor(tokens + 1e-9), string.format('%.17g', (cost - tokens) / rate)}
"""


class RedisTokenBucketLimiter:
    def __init__(self, redis, rate, burst, *, prefix="dskata:rl:", fail_open=False):
        import redis as redis_module

        self._rate = _check_rate_burst(rate, burst)
        self._burst = burst
        self._redis = redis
        self._prefix = prefix
        self._fail_open = fail_open
        self._errors = redis_module.exceptions
        self._sha = None

    def _call(self, key, cost):
        args = (1, self._prefix + key, repr(self._rate), self._burst, cost)
        if self._sha is None:
            self._sha = self._redis.script_load(_TAKE)
        try:
            return self._redis.evalsha(self._sha, *args)
        except self._errors.NoScriptError:
            self._sha = self._redis.script_load(_TAKE)
            return self._redis.evalsha(self._sha, *args)

    def try_acquire(self, key, cost=1):
        _check_cost(cost, self._burst)
        try:
            allowed, remaining, retry = self._call(key, cost)
        except self._errors.RedisError:
            return Decision(self._fail_open, 0, 0.0)
        return Decision(bool(allowed), int(remaining), float(retry))
