"""Answers with a 20 MiB reply line: a grader reading without a cap runs out of memory."""

import os
import sys

__hostile__ = {"attack": "an oversized reply", "base": "reference", "expect": "tampered"}

_shim = sys.modules["__main__"]
_real = _shim._Channel.send


def _send(self, message):
    if message.get("id") == 0:
        return _real(self, message)
    chunk = b"x" * (1024 * 1024)
    os.write(self._reply_fd, b'{"id": %d, "result": "' % message["id"])
    for _ in range(20):
        os.write(self._reply_fd, chunk)
    os.write(self._reply_fd, b'"}\n')


_shim._Channel.send = _send
