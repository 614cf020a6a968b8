"""Tests that run the code but assert nothing a mistake would change: they kill no mutant."""
# ruff: noqa

from rate_limiter import TokenBucketLimiter


def test_it_constructs() -> None:
    TokenBucketLimiter(rate=1.0, burst=2, clock=lambda: 0.0)


def test_it_answers() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=lambda: 0.0)
    assert limiter.try_acquire("k") is not None
