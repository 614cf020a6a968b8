"""A correct limiter whose process patches the driver so decisions cross the pipe as
1/0 and strings: "truthy" answers that a == check would accept."""

import sys

__hostile__ = {"attack": "forged JSON types in replies (1 for true, '0' for 0)", "base": "reference", "expect": "tampered"}

_driver = sys.modules["_dskata_driver"]
_driver.encode = lambda d: [int(d.allowed), str(d.remaining), d.retry_after]
