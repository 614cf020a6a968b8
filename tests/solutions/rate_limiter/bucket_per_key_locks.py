"""A correct alternative: token buckets with one lock per key.

Decisions on different keys never wait for each other. The table of buckets is
changed only under a global lock, so two threads never get different buckets for
one key. Every ``_sweep_every`` calls a sweep (under the global lock) removes buckets
that are full again and whose lock it can take without waiting; a removed bucket is
marked dead, and a thread that finds it dead after locking it looks the key up again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class _Bucket:
    __slots__ = ("dead", "last", "lock", "tokens")

    def __init__(self, tokens: float, last: float) -> None:
        self.lock = threading.Lock()
        self.tokens = tokens
        self.last = last  # the latest clock value this key has seen
        self.dead = False


class TokenBucketLimiter:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if type(rate) not in (int, float) or not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
        if type(burst) is not int or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._table_lock = threading.Lock()
        self._calls = 0
        self._sweep_every = 1000

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if type(cost) is not int or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, {self._burst}], got {cost!r}")
        self._calls += 1  # a lost update only delays a sweep
        if self._calls >= self._sweep_every:
            self._sweep()
        while True:
            bucket = self._buckets.get(key)
            if bucket is None:
                with self._table_lock:
                    bucket = self._buckets.get(key)
                    if bucket is None:
                        bucket = self._buckets[key] = _Bucket(self._burst, self._clock())
            with bucket.lock:
                if not bucket.dead:
                    return self._decide(bucket, cost)

    def _decide(self, bucket: _Bucket, cost: int) -> Decision:
        now = self._clock()
        if now > bucket.last:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.last) * self._rate)
            bucket.last = now
        tokens = bucket.tokens
        if tokens >= cost - 1e-9:
            bucket.tokens = tokens = max(0.0, tokens - cost)
            return Decision(True, math.floor(tokens + 1e-9), 0.0)
        return Decision(False, math.floor(tokens + 1e-9), (cost - tokens) / self._rate)

    def _full(self, bucket: _Bucket, now: float) -> bool:
        elapsed = now - bucket.last
        return elapsed >= 0 and bucket.tokens + elapsed * self._rate >= self._burst

    def _sweep(self) -> None:
        with self._table_lock:
            self._calls = 0
            now = self._clock()
            for key, bucket in list(self._buckets.items()):
                if bucket.lock.acquire(blocking=False):
                    try:
                        if self._full(bucket, now):
                            bucket.dead = True
                            del self._buckets[key]
                    finally:
                        bucket.lock.release()
            self._sweep_every = max(1000, len(self._buckets))


# Part 3: a token bucket in integer micro-tokens, two fields of a hash, and the whole
# script sent with EVAL on every call: nothing to reload after a restart, at the cost
# of a few hundred bytes more per request.
_MICRO = 1_000_000
_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2]) * 1000000
local cost = tonumber(ARGV[3]) * 1000000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'm'))
local last = tonumber(redis.call('HGET', KEYS[1], 'at'))
if tokens == nil then
  tokens = burst
  last = now
end
if now > last then
  tokens = math.min(burst, tokens + math.floor((now - last) * rate + 0.5))
  last = now
end
if tokens >= cost then
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'm', string.format('%d', tokens), 'at', string.format('%d', last))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate / 1000) + 1)
  return {1, math.floor(tokens / 1000000), '0'}
end
return {0, math.floor(tokens / 1000000), string.format('%.17g', (cost - tokens) / rate / 1000000)}
"""


class RedisTokenBucketLimiter:
    def __init__(
        self,
        redis: Any,
        rate: float,
        burst: int,
        *,
        prefix: str = "dskata:rl:",
        fail_open: bool = False,
    ) -> None:
        import redis as redis_module

        TokenBucketLimiter(rate, burst)  # the same validation as part 1
        self._redis = redis
        self._rate = float(rate)
        self._burst = burst
        self._prefix = prefix
        self._fail_open = fail_open
        self._error = redis_module.RedisError

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if type(cost) is not int or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, {self._burst}], got {cost!r}")
        try:
            allowed, remaining, retry = self._redis.eval(
                _BUCKET, 1, self._prefix + key, repr(self._rate), self._burst, cost
            )
        except self._error:
            return Decision(self._fail_open, 0, 0.0)
        return Decision(bool(allowed), int(remaining), float(retry))
