"""The wrong limiter hostile entries ride on: it allows everything (never a pass)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float


class TokenBucketLimiter:
    def __init__(self, rate, burst, *, clock=None):
        self.burst = burst

    def try_acquire(self, key, cost=1):
        return Decision(True, self.burst, 0.0)
