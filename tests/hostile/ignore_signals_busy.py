"""A call that ignores every catchable signal (SIGALRM, SIGTERM, SIGXCPU, …) and spins:
an in-process alarm or a polite SIGTERM never stops it."""

import signal

__hostile__ = {"attack": "signal-ignoring busy loop in a call", "base": "reference", "expect": "timed_out", "slow": True}


def _spin(self, key, cost=1):
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGXCPU, signal.SIGINT, signal.SIGHUP, signal.SIGVTALRM, signal.SIGPROF, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        pass


TokenBucketLimiter.try_acquire = _spin  # type: ignore[name-defined]
