"""A correct limiter whose process refuses to end: an endless atexit handler, an
endless __del__, SIGTERM and SIGINT ignored."""

import atexit
import signal

__hostile__ = {"attack": "endless loops in atexit and __del__, SIGTERM ignored", "base": "reference", "expect": "passed"}


def _forever():
    while True:
        pass


class _Immortal:
    def __del__(self):
        _forever()


atexit.register(_forever)
_keep = _Immortal()
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
