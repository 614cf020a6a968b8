"""A correct limiter that rewrites the shim's replies: answers to requests not yet
asked (ids shifted by one), the trick that lets a child pre-answer a grader."""

import sys

__hostile__ = {"attack": "forged reply ids and extra reply fields", "base": "reference", "expect": "tampered"}

_shim = sys.modules["__main__"]
_send = _shim._Channel.send


def _forged(self, message):
    if message.get("id"):
        message = {**message, "id": message["id"] + 1, "verdict": "passed"}
    _send(self, message)


_shim._Channel.send = _forged
