"""A correct limiter that leaves a daemon behind: double fork, setsid, ignore every
signal it can, sleep forever. A process-group kill misses it."""

import os
import signal
import time

__hostile__ = {"attack": "a setsid daemon that outlives its check", "base": "reference", "expect": "passed"}

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(_sig, signal.SIG_IGN)
        while True:
            time.sleep(0.5)
    os._exit(0)
os.wait()
