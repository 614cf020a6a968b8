"""Public tests for part 1: a single-threaded token bucket with an injected clock."""

from __future__ import annotations

import pytest
from rate_limiter import Decision, TokenBucketLimiter


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_new_key_allows_burst_requests_then_denies() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=3, clock=ManualClock())
    decisions = [limiter.try_acquire("alice") for _ in range(4)]
    assert decisions[:3] == [
        Decision(allowed=True, remaining=2, retry_after=0.0),
        Decision(allowed=True, remaining=1, retry_after=0.0),
        Decision(allowed=True, remaining=0, retry_after=0.0),
    ]
    assert not decisions[3].allowed
    assert decisions[3].remaining == 0


def test_tokens_come_back_at_the_refill_rate() -> None:
    clock = ManualClock()
    limiter = TokenBucketLimiter(rate=2.0, burst=2, clock=clock)
    assert limiter.try_acquire("alice", cost=2).allowed
    clock.advance(0.5)  # 0.5 s at 2 tokens/s = 1 token
    assert limiter.try_acquire("alice") == Decision(allowed=True, remaining=0, retry_after=0.0)
    assert not limiter.try_acquire("alice").allowed


def test_a_denied_request_says_when_to_retry() -> None:
    clock = ManualClock()
    limiter = TokenBucketLimiter(rate=2.0, burst=2, clock=clock)
    limiter.try_acquire("alice", cost=2)
    clock.advance(0.25)  # half a token is back
    denied = limiter.try_acquire("alice")
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(0.25)
    clock.advance(denied.retry_after)
    assert limiter.try_acquire("alice").allowed


def test_keys_have_their_own_buckets() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=ManualClock())
    assert limiter.try_acquire("alice", cost=2).allowed
    assert not limiter.try_acquire("alice").allowed
    assert limiter.try_acquire("bob") == Decision(allowed=True, remaining=1, retry_after=0.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (-1.0, 5), (1.0, 0)])
def test_bad_limiter_arguments_raise_value_error(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate=rate, burst=burst, clock=ManualClock())


def test_a_cost_larger_than_burst_raises_value_error() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=3, clock=ManualClock())
    with pytest.raises(ValueError):
        limiter.try_acquire("alice", cost=4)
