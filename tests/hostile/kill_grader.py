"""A wrong limiter that signals every process it can name: its parent chain, the
process group and session it started in, and pid 1 of wherever it runs."""

import os
import signal

__hostile__ = {
    "attack": "signalling the grader (parents, process group, pid 1)",
    "base": "always_allow",
    # In bubblewrap the only parent it may signal is its own sandbox's inner bwrap (the
    # outer one is root's): killing it takes the shim down with SIGKILL (--die-with-parent).
    "expect": "resource_exceeded",
    # In unshare's PID namespace its parents are hidden and pid 1 ignores SIGKILL.
    "namespaces": "failed",
    "degraded": "skip",  # as the grading user it would kill the grading session itself
}

_targets = set()
_pid = os.getpid()
for _ in range(8):
    try:
        with open(f"/proc/{_pid}/stat") as _f:
            _pid = int(_f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
    if _pid <= 0:
        break
    _targets.add(_pid)
for _target in sorted(_targets):
    try:
        os.kill(_target, signal.SIGKILL)
    except OSError:
        pass
