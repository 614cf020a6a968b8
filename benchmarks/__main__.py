"""`python -m benchmarks` (what `python3 tasks.py bench` runs): every number of issue 10.

Sections, in order: grading time of each reference (per part, all parts); the kit's
fast test suite (only with --suite); the references against the libraries people use
(ops/s and reference/library ratios, same process, same workload); a pyinstrument
profile of any reference that a library beat. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from . import grading, pool_bench, rl_bench, suite
from .profiling import profile
from .timing import Workload, measure, report


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 tasks.py bench", description=__doc__)
    p.add_argument("--runs", type=int, default=3, help="gradings per exercise and part (3)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per library comparison (5)")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every workload's size")
    p.add_argument(
        "--exercises",
        default=",".join(grading.EXERCISES),
        help="exercises whose grading is timed (absent ones are skipped)",
    )
    p.add_argument("--parts", help="time only these parts, e.g. 1 (no all-parts row)")
    p.add_argument("--check", help="grade only this check id (for a quick smoke run)")
    p.add_argument("--suite", action="store_true", help="also time the fast suite (~13 min)")
    p.add_argument("--suite-args", default="", help="extra pytest arguments for --suite")
    p.add_argument("--no-grading", action="store_true", help="skip the grading-time section")
    p.add_argument("--no-libraries", action="store_true", help="skip the library comparisons")
    p.add_argument(
        "--profile",
        choices=("slower", "always", "never"),
        default="slower",
        help="profile the reference (and the library) when the reference is slower (default)",
    )
    p.add_argument("--out", type=Path, help="where profiles are written (default: a temp dir)")
    return p.parse_args(argv)


def _libraries(args: argparse.Namespace, out: Path) -> list[tuple[str, str, float]]:
    from dskata import redis_server

    print("\n# the reference solutions against the libraries people use")
    print(
        "method: perf_counter around each whole workload, gc off while timed, state built "
        f"untimed; 1 warm-up round then {args.rounds} rounds, contenders in an order "
        "rotated every round; ops/s median [min, max]; ref/lib = reference median / "
        "library median (>= 1.0: the reference is at least as fast)"
    )
    made: list[Workload | str] = [
        rl_bench.in_memory(args.scale),
        rl_bench.asyncio_limiter(args.scale),
    ]
    with redis_server.running() as server:
        print(f"redis: {server.info.source} {server.info.version} at {server.url}")
        made.append(rl_bench.redis_workloads(args.scale, server.host, server.port))
        made += [pool_bench.workload(args.scale, b) for b in ("asyncio", "trio")]
        all_ratios = []
        for number, item in enumerate(made):
            if isinstance(item, str):
                print(f"\n## skipped: {item}")
                continue
            results = measure(item, args.rounds)
            ratios = report(item, results)
            all_ratios += [(item.title, lib, ratio) for lib, ratio in ratios]
            for index, (lib, ratio) in enumerate(ratios, start=1):
                if args.profile == "always" or (args.profile == "slower" and ratio < 1.0):
                    tag = f"{number}-{index}"
                    profile(item.contenders[0], out, f"{tag}-reference")
                    library = next(c for c in item.contenders if c.name == lib)
                    profile(library, out, f"{tag}-library")
    return all_ratios


def main(argv: list[str]) -> int:
    args = _args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, piped too
    started = time.perf_counter()
    print("# dskata benchmarks")
    print(
        f"machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.platform()}; shared and noisy: only the "
        "ratios measured in one run mean something"
    )
    if args.no_grading:
        print("\n## grading time: skipped (--no-grading)")
    else:
        parts = [int(p) for p in args.parts.split(",")] if args.parts else None
        grading.run(args.exercises.split(","), args.runs, parts, args.check)
    suite.run(args.suite, args.suite_args.split())
    if args.no_libraries:
        print("\n# library comparisons: skipped (--no-libraries)")
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="dskata-bench-profiles-"))
        ratios = _libraries(args, out)
        print("\n# summary: reference / library (>= 1.0: the reference is at least as fast)")
        for title, lib, ratio in ratios:
            mark = "ok" if ratio >= 1.0 else "REFERENCE SLOWER"
            print(f"  {ratio:6.2f}  {mark:<16} {lib}  ({title.split(':')[0]})")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
