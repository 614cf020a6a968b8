"""A limiter that asks for 16 GiB at once when it is made."""

__hostile__ = {"attack": "sudden memory bomb", "base": "reference", "expect": "resource_exceeded"}


def _bomb(self, rate, burst, *, clock=None):
    self.hog = bytearray(16 * 1024**3)


TokenBucketLimiter.__init__ = _bomb  # type: ignore[name-defined]
