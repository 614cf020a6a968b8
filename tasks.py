#!/usr/bin/env python3
"""The two commands a new user runs (see README.md). Standard library only.

    python3 tasks.py demo   start a workspace, grade the reference and a buggy submission
    python3 tasks.py test   lint, type-check and run the kit's test suite
    python3 tasks.py soak   the slow tests: other seed profiles, repeats, fresh venvs (CI runs them)
    python3 tasks.py bench  grading times and the references against libraries (benchmarks/)

Both create ``.venv`` next to this file (if missing) and install the kit into it
non-editably, as a user would get it, so the tests prove the wheel works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


def run(*argv: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(a) for a in argv), flush=True)
    return subprocess.run([str(a) for a in argv], cwd=ROOT, check=check).returncode


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs on whatever python3 is
        sys.exit("dskata needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        run(sys.executable, "-m", "venv", VENV)
        run(BIN / "python", "-m", "pip", "install", "-q", "--upgrade", "pip")
    # bench: the fast suite's smoke test of benchmarks/ needs the compared libraries.
    run(BIN / "python", "-m", "pip", "install", "-q", f"{ROOT}[dev,bench]")
    # Always rebuild the kit itself: a source checkout changes without a version bump.
    run(BIN / "python", "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", ROOT)


# Debian packages the kit's tests need: bubblewrap, the strongest sandbox level (the
# corpus in tests/test_hostile.py asserts it is the level used wherever it is installed).
SYSTEM_PACKAGES = {"bwrap": "bubblewrap"}


def ensure_system_packages() -> None:
    """Installs the missing ones with apt-get, quietly; says loudly when it cannot."""
    missing = [pkg for tool, pkg in SYSTEM_PACKAGES.items() if shutil.which(tool) is None]
    if not missing:
        return
    why = None
    if shutil.which("apt-get") is None:
        why = "no apt-get on this machine"
    elif os.geteuid() != 0:
        why = "not root"
    else:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        apt = ["apt-get", "-qq", "-o", "Dpkg::Use-Pty=0"]
        install = [*apt, "install", "-y", "--no-install-recommends", *missing]
        for step in ([*apt, "update"], install):
            print("+", " ".join(step), flush=True)
            done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                why = f"apt-get {step[4]} failed: {done.stderr.strip()[-300:]}"
                break
    if why is not None:
        bar = "!" * 78
        print(f"{bar}\nWARNING: could not install {', '.join(missing)} ({why}).\n"
              "Sandboxes fall back to a weaker isolation level; the hostile corpus runs "
              f"with that level's expectations.\n{bar}", file=sys.stderr, flush=True)  # fmt: skip


def demo() -> int:
    ensure_venv()
    out = ROOT / "demo-out"
    shutil.rmtree(out, ignore_errors=True)
    dskata = BIN / "dskata"
    run(dskata, "list")
    run(dskata, "start", "rate_limiter", out / "alice", "--parts", "1,2")
    run(dskata, "start", "rate_limiter", out / "bob", "--parts", "1,2")
    # Alice hands back the reference solution; Bob forgot the lock.
    shutil.copy(ROOT / "reference_solutions/rate_limiter/rate_limiter.py", out / "alice")
    shutil.copy(ROOT / "graders/rate_limiter/mutants/no_lock.py", out / "bob/rate_limiter.py")
    run(dskata, "grade", out / "alice")
    run(dskata, "grade", out / "bob")
    print(
        f"\nReports (report.json, report.md, report.html): {out}/alice-report/, {out}/bob-report/"
    )
    print(f"Bob's report, as an interviewer reads it: {out}/bob-report/report.md")
    return 0


def test(extra: list[str]) -> int:
    ensure_venv()
    ensure_system_packages()
    failed = 0
    if not extra:  # a narrowed run (`tasks.py test -k x`) skips the static checks
        failed |= run(BIN / "ruff", "check", ".", check=False)
        failed |= run(BIN / "mypy", check=False)
    failed |= run(BIN / "python", "-m", "pytest", "-m", "not slow", *extra, check=False)
    return 1 if failed else 0


def soak(extra: list[str]) -> int:
    """The tests marked slow: long, so kept out of `test` (which stays under 15 min)."""
    ensure_venv()
    ensure_system_packages()
    return 1 if run(BIN / "python", "-m", "pytest", "-m", "slow", *extra, check=False) else 0


def bench(extra: list[str]) -> int:
    """Every number of issue 10 in one run; `tasks.py bench --help` lists the options."""
    ensure_venv()
    return run(BIN / "python", "-m", "benchmarks", *extra, check=False)


def main() -> int:
    commands = {"demo": lambda extra: demo(), "test": test, "soak": soak, "bench": bench}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    os.chdir(ROOT)
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
