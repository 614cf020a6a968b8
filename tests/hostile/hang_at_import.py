"""An endless loop at import."""

__hostile__ = {"attack": "an endless loop at import", "expect": "timed_out", "slow": True}

while True:
    pass
