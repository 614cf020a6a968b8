"""Wall time of the kit's own fast test suite: the pytest run of `tasks.py test`.

Off by default: it takes about 13 minutes and both cores. The static checks (ruff,
mypy) that `tasks.py test` also runs are not included.
"""

from __future__ import annotations

import subprocess
import sys
import time

from .common import ROOT


def run(enabled: bool, extra: list[str]) -> None:
    print("\n## the kit's fast test suite (pytest -m 'not slow', as `tasks.py test` runs it)")
    if not enabled:
        print("  not run: it takes ~13 min on 2 cores; pass --suite to time it")
        return
    argv = [sys.executable, "-m", "pytest", "-m", "not slow", "-q", *extra]
    print(f"  command: {' '.join(argv[2:])}")
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"  wall: {seconds:.1f} s; exit {done.returncode}; {summary}")
