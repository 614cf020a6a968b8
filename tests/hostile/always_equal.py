"""Decisions whose fields compare equal to anything, and an int subclass for
remaining: an assertEqual-style grader comparing in the candidate's process passes."""

from dataclasses import dataclass

__hostile__ = {"attack": "always-equal objects and int subclasses", "expect": "failed"}


class _Any:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    __hash__ = object.__hash__


class _Int(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float


class TokenBucketLimiter:
    def __init__(self, rate, burst, *, clock=None):
        self.burst = burst

    def try_acquire(self, key, cost=1):
        return Decision(_Any(), _Int(0), 0.0)  # type: ignore[arg-type]
