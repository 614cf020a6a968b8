"""The token-bucket model the rate-limiter checks judge against (grader side).

With a clock that only moves forward the model is exact: one token count per key.

When the clock goes backwards the contract allows several correct designs: refill
a key from the latest time *it* saw (Envoy's TokenBucket), clamp the clock to the
largest value the limiter ever saw (GCRA with a monotonic clamp), and either of
those plus forgetting keys that look idle. So the model keeps, per key, an
*envelope* [lo, hi] of the token counts those designs can hold, and every decision
must fit it:

- ``lo`` refills only for time past the largest reading the limiter had seen at the
  key's previous access (no design refills less);
- ``hi`` refills from the key's own largest reading up to the largest reading seen
  *since the key's previous access* (no design refills more: a limiter-wide clamp
  only moves with readings, and a sweep only forgets at a reading it is given). A
  key whose bucket may have been full could have been forgotten and re-created at a
  lower reading, so then its own reading restarts.

A denial also bounds ``retry_after`` from below: it can never be shorter than the
time the most generous design needs to refill the missing tokens.

Each answer narrows the envelope (``remaining`` is the floor of what is left). At a
boundary (tokens within EPS of the cost) either decision is accepted and the model
follows the candidate, so it stays in step with any correct design.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

EPS = 1e-6


@dataclass
class Outcome:
    allowed: bool
    remaining: int
    retry_after: float

    def words(self) -> str:
        if self.allowed:
            return f"allowed, remaining={self.remaining}"
        return f"denied, remaining={self.remaining}, retry_after={self.retry_after:.6g}"


@dataclass
class _Key:
    lo: float  # fewest tokens any correct design can hold after the key's last access
    hi: float  # most tokens any correct design can hold after it
    own: float  # the key's own largest reading (restarts when it may have been forgotten)
    seen: float  # the largest reading the limiter had seen at that access
    index: int  # how many readings the limiter had seen at that access


@dataclass
class BucketModel:
    rate: float
    burst: int
    keys: dict[str, _Key] = field(default_factory=dict)
    latest: float = -math.inf
    readings: list[float] = field(default_factory=list)

    def bounds(self, key: str, now: float) -> _Key:
        """Returns the envelope of tokens ``key`` may hold at clock reading ``now``."""
        seen = max(self.latest, now)
        index = len(self.readings) + 1
        state = self.keys.get(key)
        full = float(self.burst)
        if state is None:
            return _Key(full, full, now, seen, index)
        since = max([now, *self.readings[state.index :]])
        lo = min(full, state.lo + max(0.0, now - state.seen) * self.rate)
        hi = min(full, state.hi + max(0.0, since - state.own) * self.rate)
        own = now if hi >= full - EPS else max(state.own, now)
        return _Key(min(lo, hi), hi, own, seen, index)

    def judge(self, key: str, cost: int, now: float, got: Outcome) -> str | None:
        """Checks one decision; returns why it is wrong, or None. Follows the candidate."""
        b = self.bounds(key, now)
        self.latest = b.seen
        self.readings.append(now)
        if not got.allowed and b.hi < cost - EPS:
            shortest = (cost - b.hi) / self.rate
            if got.retry_after < shortest - EPS / self.rate - 1e-9 * shortest:
                return (
                    f"denied with retry_after={got.retry_after:.6g}, but {cost - b.hi:.6g} "
                    f"missing tokens take at least {shortest:.6g} s to refill"
                )
        if got.allowed:
            if b.hi < cost - EPS:
                return f"allowed although the bucket held {_tokens(b.lo, b.hi)} < cost {cost}"
            lo, hi = max(0.0, max(b.lo, cost) - cost), max(0.0, b.hi - cost)
        else:
            if b.lo >= cost + EPS:
                return f"denied although the bucket held {_tokens(b.lo, b.hi)} >= cost {cost}"
            lo, hi = b.lo, min(b.hi, float(cost))
        if not math.floor(max(0.0, lo - EPS)) <= got.remaining <= math.floor(hi + EPS):
            expected = _floors(lo, hi)
            return f"remaining={got.remaining}, expected {expected} (floor of {_tokens(lo, hi)})"
        # floor(tokens) == remaining narrows what the bucket can hold now.
        lo = max(lo, got.remaining - EPS)
        hi = max(lo, min(hi, got.remaining + 1.0))
        self.keys[key] = _Key(lo, hi, b.own, b.seen, b.index)
        return None

    def expected_retry_after(self, key: str, cost: int, now: float) -> float:
        """The exact retry_after for a forward-moving clock (where the envelope is a point)."""
        return max(0.0, (cost - self.bounds(key, now).lo) / self.rate)


def _tokens(low: float, high: float) -> str:
    if high - low <= EPS:
        return f"{low:.6g} tokens"
    return f"between {low:.6g} and {high:.6g} tokens"


def _floors(low: float, high: float) -> str:
    a, b = math.floor(max(0.0, low)), math.floor(high)
    return str(a) if a == b else f"{a}…{b}"


def retry_after_ok(got: float, expected: float, rate: float) -> bool:
    return abs(got - expected) <= EPS / rate + 1e-9 * max(1.0, expected)
