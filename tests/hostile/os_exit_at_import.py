"""os._exit(0) at import: no exception, no atexit, a clean exit status."""

import os

__hostile__ = {"attack": "os._exit(0) at import", "expect": "crashed"}

os._exit(0)
