"""Mutant: a denial sets the key's expiry to retry_after.

"Nothing can happen before retry_after anyway" — but the bucket is full only much later:
when the key expires at retry_after, the next request finds a whole new burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__mutant__ = {
    "mistake": "On a denial the key expires after retry_after instead of when the bucket is full",
    "parts": [3],
    "catches": ["RL-REDIS-EXPIRY"],
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


def _checked_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ValueError(f"rate={rate!r} must be a finite number > 0")
    rate = float(rate)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate={rate!r} must be a finite number > 0")
    return rate


def _check_burst(burst: Any) -> None:
    if type(burst) is not int or burst < 1:
        raise ValueError(f"burst={burst!r} must be an int >= 1")


def _check_cost(cost: Any, burst: int) -> None:
    if type(cost) is not int or not 1 <= cost <= burst:
        raise ValueError(f"cost={cost!r} must be an int with 1 <= cost <= burst={burst}")


_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local allowed = 0
local retry = 0
if tokens + 1e-9 >= cost then
  tokens = math.max(0, tokens - cost)
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
if allowed == 1 then
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
else
  redis.call('PEXPIRE', KEYS[1], math.ceil(retry * 1000))
end
return {allowed, math.floor(tokens + 1e-9), string.format('%.17g', retry)}
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

        self._rate = _checked_rate(rate)
        _check_burst(burst)
        self._burst = burst
        self._prefix = prefix
        self._fail_open = fail_open
        self._errors = redis_module.RedisError
        self._take = redis.register_script(_TAKE)

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        _check_cost(cost, self._burst)
        try:
            allowed, remaining, retry = self._take(
                keys=[self._prefix + key], args=[repr(self._rate), self._burst, cost]
            )
        except self._errors:
            return Decision(self._fail_open, 0, 0.0)
        return Decision(bool(allowed), int(remaining), float(retry))
