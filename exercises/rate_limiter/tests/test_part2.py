"""Public tests for part 2: thread safety."""

from __future__ import annotations

import threading

from rate_limiter import Decision, TokenBucketLimiter


class FrozenClock:
    """A clock that never moves: no tokens come back during the test."""

    def __call__(self) -> float:
        return 100.0


def test_threads_racing_on_a_new_key_get_exactly_burst_tokens() -> None:
    threads_count, burst = 8, 3
    for _ in range(20):
        limiter = TokenBucketLimiter(rate=1.0, burst=burst, clock=FrozenClock())
        start = threading.Barrier(threads_count)
        decisions: list[Decision] = []

        def worker(
            limiter: TokenBucketLimiter = limiter,
            start: threading.Barrier = start,
            decisions: list[Decision] = decisions,
        ) -> None:
            start.wait()
            decisions.append(limiter.try_acquire("shared"))

        threads = [threading.Thread(target=worker) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(decisions) == threads_count
        assert sum(d.allowed for d in decisions) == burst
        assert sorted(d.remaining for d in decisions if d.allowed) == [0, 1, 2]
