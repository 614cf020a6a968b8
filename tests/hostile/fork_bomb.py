"""A fork bomb at import: every process forks for ever."""

import os

__hostile__ = {"attack": "fork bomb", "expect": "resource_exceeded", "slow": True}

while True:
    try:
        os.fork()
    except OSError:
        pass
