"""A correct alternative: GCRA (generic cell rate algorithm) in integer nanoseconds.

Each key stores only its theoretical arrival time (TAT). The clock is read as whole
nanoseconds and clamped limiter-wide to the largest value seen, so a clock that goes
backwards neither creates nor removes tokens. Keys are kept in last-use order; keys
at the front whose TAT has passed (full buckets) are dropped on every call.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NS = 1_000_000_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left in the bucket after this decision (floor)
    retry_after: float  # 0.0 when allowed; else seconds until the same request could be allowed


class TokenBucketLimiter:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        self._burst = burst
        self._interval = _NS / rate  # emission interval T, in ns (float)
        self._tau = burst * self._interval  # how far the TAT may run ahead of now
        self._clock = clock
        self._now = -(2**63)
        self._tats: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if isinstance(cost, bool) or not isinstance(cost, int) or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, {self._burst}], got {cost!r}")
        with self._lock:
            self._now = now = max(self._now, round(self._clock() * _NS))
            tats = self._tats
            while tats:
                oldest = next(iter(tats))
                if tats[oldest] > now:
                    break
                del tats[oldest]
            tat = max(tats.get(key, now), now)
            new_tat = tat + cost * self._interval
            # tokens held = (now + tau - tat) / T, so tokens >= cost iff new_tat <= now + tau
            slack = now + self._tau - new_tat
            if slack >= -1:  # up to one clock tick short: within rounding of the clock
                tats[key] = new_tat
                tats.move_to_end(key)
                return Decision(True, self._floor(slack), 0.0)
            if key in tats:
                tats.move_to_end(key)
            return Decision(False, self._floor(now + self._tau - tat), -slack / _NS)

    def _floor(self, slack_ns: float) -> int:
        return max(0, math.floor(slack_ns / self._interval + 1e-9))


# Part 3: GCRA in Lua, with the theoretical arrival time kept in whole microseconds of
# the server's clock in a plain string key (SET … PX), which expires exactly when the
# bucket would be full again.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + cost * interval
local allow_at = new_tat - burst * interval
if now + 1e-9 * interval >= allow_at then
  new_tat = math.floor(new_tat + 0.5)
  local ms = math.max(1, math.ceil((new_tat - now) / 1000))
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ms)
  return {1, math.floor(burst - (new_tat - now) / interval + 1e-9), '0'}
end
local remaining = math.floor(burst - (tat - now) / interval + 1e-9)
return {0, remaining, string.format('%.17g', (allow_at - now) / 1000000)}
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
        self._interval = 1_000_000 / rate  # µs per token
        self._burst = burst
        self._prefix = prefix
        self._fail_open = fail_open
        self._error = redis_module.RedisError
        self._script = redis.register_script(_GCRA)

    def try_acquire(self, key: str, cost: int = 1) -> Decision:
        if isinstance(cost, bool) or not isinstance(cost, int) or not 1 <= cost <= self._burst:
            raise ValueError(f"cost must be an int in [1, {self._burst}], got {cost!r}")
        try:
            allowed, remaining, retry = self._script(
                keys=[self._prefix + key], args=[repr(self._interval), self._burst, cost]
            )
        except self._error:
            return Decision(self._fail_open, 0, 0.0)
        return Decision(allowed == 1, int(remaining), float(retry))
