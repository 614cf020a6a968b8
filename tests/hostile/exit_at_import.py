"""sys.exit(0) at import: a test runner that trusts exit codes would call this a pass."""

import sys

__hostile__ = {"attack": "sys.exit(0) at import", "expect": "crashed"}

sys.exit(0)
