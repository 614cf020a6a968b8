"""The exact token-bucket model the rate-limiter checks judge against (grader side).

With a clock that only moves forward the model is exact: one token count per key.

When the clock goes backwards the contract allows several correct designs: refill
a key from the latest time *it* saw (Envoy's TokenBucket), clamp the clock to the
largest value the limiter ever saw (a GCRA with a monotonic clamp), or either of
those plus forgetting keys that were idle by an earlier, higher reading. So the
model keeps, per key, an *interval* of token counts: the low end refills from the
key's own latest time, the high end from the largest time the limiter saw. Every
decision must fit the interval, and each answer (allowed, remaining) narrows it.

At a boundary (tokens within EPS of the cost) either decision is accepted and the
model follows the candidate, so it stays in step with any correct design.
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
    low: float  # tokens at ``low_at`` if refilled only from this key's own times
    low_at: float
    high: float  # tokens at ``high_at`` if refilled up to the largest time ever seen
    high_at: float


@dataclass
class BucketModel:
    rate: float
    burst: int
    keys: dict[str, _Key] = field(default_factory=dict)
    latest: float = -math.inf

    def bounds(self, key: str, now: float) -> _Key:
        """Returns the interval of tokens ``key`` may hold at clock reading ``now``."""
        latest = max(self.latest, now)
        state = self.keys.get(key)
        if state is None:
            return _Key(float(self.burst), now, float(self.burst), latest)
        low_at = max(now, state.low_at)
        low = min(float(self.burst), state.low + (low_at - state.low_at) * self.rate)
        high = min(float(self.burst), state.high + (latest - state.high_at) * self.rate)
        return _Key(low, low_at, max(low, high), latest)

    def judge(self, key: str, cost: int, now: float, got: Outcome) -> str | None:
        """Checks one decision; returns why it is wrong, or None. Follows the candidate."""
        b = self.bounds(key, now)
        self.latest = b.high_at
        if got.allowed:
            if b.high < cost - EPS:
                return f"allowed although the bucket held {_tokens(b.low, b.high)} < cost {cost}"
            low, high = max(0.0, max(b.low, cost) - cost), max(0.0, b.high - cost)
        else:
            if b.low >= cost + EPS:
                return f"denied although the bucket held {_tokens(b.low, b.high)} >= cost {cost}"
            low, high = b.low, min(b.high, float(cost))
        if not math.floor(max(0.0, low - EPS)) <= got.remaining <= math.floor(high + EPS):
            expected = _floors(low, high)
            return f"remaining={got.remaining}, expected {expected} (floor of {_tokens(low, high)})"
        # floor(tokens) == remaining narrows what the bucket can hold now.
        low = max(low, got.remaining - EPS)
        high = max(low, min(high, got.remaining + 1.0))
        self.keys[key] = _Key(low, b.low_at, high, b.high_at)
        return None

    def expected_retry_after(self, key: str, cost: int, now: float) -> float:
        """The exact retry_after for a forward-moving clock (where the interval is a point)."""
        return max(0.0, (cost - self.bounds(key, now).low) / self.rate)


def _tokens(low: float, high: float) -> str:
    if high - low <= EPS:
        return f"{low:.6g} tokens"
    return f"between {low:.6g} and {high:.6g} tokens"


def _floors(low: float, high: float) -> str:
    a, b = math.floor(max(0.0, low)), math.floor(high)
    return str(a) if a == b else f"{a}…{b}"


def retry_after_ok(got: float, expected: float, rate: float) -> bool:
    return abs(got - expected) <= EPS / rate + 1e-9 * max(1.0, expected)
