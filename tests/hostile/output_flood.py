"""Floods stdout with 256 MiB at import: the log must stay capped and the report small."""

import sys

__hostile__ = {"attack": "output flood", "base": "reference", "expect": "crashed"}

_line = "flood " * 170 + "\n"
for _ in range(256 * 1024):
    sys.stdout.write(_line)
sys.stdout.flush()
