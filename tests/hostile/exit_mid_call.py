"""sys.exit(0) from inside try_acquire, hoping the harness stops and reports success."""

import sys

__hostile__ = {"attack": "sys.exit(0) in the middle of a call", "base": "reference", "expect": "failed"}


def _exit(self, key, cost=1):
    sys.exit(0)


TokenBucketLimiter.try_acquire = _exit  # type: ignore[name-defined]
