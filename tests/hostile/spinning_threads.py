"""A correct limiter that starts busy threads at import and never stops them."""

import threading

__hostile__ = {"attack": "spinning threads beside correct answers", "base": "reference", "expect": "passed"}


def _spin():
    n = 0
    while True:
        n += 1


for _ in range(3):
    threading.Thread(target=_spin, daemon=True).start()
