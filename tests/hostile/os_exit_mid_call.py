"""os._exit(0) from inside try_acquire: the process is gone with status 0."""

import os

__hostile__ = {"attack": "os._exit(0) in the middle of a call", "base": "reference", "expect": "crashed"}


def _exit(self, key, cost=1):
    os._exit(0)


TokenBucketLimiter.try_acquire = _exit  # type: ignore[name-defined]
