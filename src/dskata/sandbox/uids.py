"""A user id of its own for every sandbox, leased across grading processes.

A sandbox that runs as a uid nobody else has cannot signal, trace or read the
files of any other process, and ``RLIMIT_NPROC`` (which counts per real uid, and
is ignored for root) then limits that one sandbox — not every sandbox that happens
to run as ``nobody`` at the same time. Leases are ``flock``s on one file per uid in
a machine-wide folder, so gradings running side by side never share a uid, and a
lease dies with the process that held it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
from pathlib import Path

BASE_UID = 930_000  # far above login users and the usual subuid ranges (100000+65536)
SLOTS = 20_000


def _lock_dir() -> Path:
    folder = Path("/run/dskata-uids") if Path("/run").is_dir() else Path("/tmp/dskata-uids")
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class UidLease:
    """One uid, held until ``release``; ``uid`` is also the sandbox's gid."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing drops the flock
            self._fd = -1


def lease() -> UidLease:
    """Leases a uid no other live sandbox on this machine holds.

    Raises OSError when every slot is taken (20 000 sandboxes at once).
    """
    folder = _lock_dir()
    start = random.randrange(SLOTS)  # spread out, so concurrent graders rarely collide
    for i in range(SLOTS):
        uid = BASE_UID + (start + i) % SLOTS
        fd = os.open(folder / str(uid), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise OSError("no free sandbox uid")
