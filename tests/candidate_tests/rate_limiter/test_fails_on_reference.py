"""A candidate test that is wrong about the contract: a new key allows burst calls, not burst + 1."""
# ruff: noqa

from rate_limiter import TokenBucketLimiter


def test_burst_plus_one_is_allowed() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=lambda: 0.0)
    assert all(limiter.try_acquire("k").allowed for _ in range(3))
