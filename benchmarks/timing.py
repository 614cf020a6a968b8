"""How every library comparison is timed, and how its numbers are printed.

The method (stated in the output and in benchmarks/README.md): each contender of a
workload is one function that builds fresh state (untimed), then runs the whole
workload between two ``time.perf_counter()`` reads with the garbage collector off
(as ``timeit`` does). One untimed warm-up round, then ``rounds`` rounds; within a
round every contender runs once, in an order rotated from round to round, so a noisy
neighbour on the shared machine hits every contender alike. A contender's figure is
its median operations per second over the rounds, with min and max; the ratio is
reference median / library median (≥ 1.0: the reference is at least as fast).

Hand-written rather than pytest-benchmark or pyperf: pyperf runs each benchmark in
worker processes of its own (the issue asks for the same process), pytest-benchmark
times one test at a time (we want the contenders interleaved round by round); what
is left is ``perf_counter`` around a call, which needs no library.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio


@dataclass(frozen=True)
class Trial:
    """One timed run of a whole workload."""

    seconds: float
    checksum: int  # what the run produced (allowed decisions, sum of job results)
    server_us: float | None = None  # Redis time per decision (INFO commandstats), if any


# Builds fresh state (untimed) and returns the function to time.
Setup = Callable[[], Callable[[], int]]
# Runs itself and says how long its timed part took (async contenders time inside the
# event loop, so starting the loop is not counted).
SelfTimed = Callable[[], Trial]


def timed(setup: Setup) -> SelfTimed:
    """A contender from a setup: the setup is untimed, the returned call is timed."""

    def run() -> Trial:
        call = setup()
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            checksum = call()
            seconds = time.perf_counter() - start
        finally:
            gc.enable()
        return Trial(seconds, checksum)

    return run


def timed_async(
    setup: Callable[[], Callable[[], Awaitable[int]]], backend: str = "asyncio"
) -> SelfTimed:
    """An async contender: a fresh event loop per run (untimed); state is built and the
    workload timed inside it."""

    def run() -> Trial:
        async def main() -> Trial:
            call = setup()
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                checksum = await call()
                seconds = time.perf_counter() - start
            finally:
                gc.enable()
            return Trial(seconds, checksum)

        return anyio.run(main, backend=backend)

    return run


@dataclass(frozen=True)
class Contender:
    name: str
    run: SelfTimed


@dataclass
class Result:
    name: str
    trials: list[Trial] = field(default_factory=list)

    def ops_per_s(self, ops: int) -> list[float]:
        return [ops / t.seconds for t in self.trials]

    def median(self, ops: int) -> float:
        return statistics.median(self.ops_per_s(ops))


@dataclass(frozen=True)
class Workload:
    title: str
    description: str  # the precise workload, printed as is
    ops: int
    contenders: tuple[Contender, ...]  # the reference first
    checksum_label: str = "allowed"
    notes: tuple[str, ...] = ()


def measure(workload: Workload, rounds: int) -> list[Result]:
    results = [Result(c.name) for c in workload.contenders]
    for c in workload.contenders:  # warm-up: imports, caches, Redis script loads
        c.run()
    n = len(workload.contenders)
    for r in range(rounds):
        for i in range(n):
            k = (i + r) % n
            results[k].trials.append(workload.contenders[k].run())
    return results


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}".replace(",", " ")


def report(workload: Workload, results: list[Result]) -> list[tuple[str, float]]:
    """Prints the workload's table; returns (library, ratio) for every library."""
    print(f"\n## {workload.title}")
    print(f"workload: {workload.description}")
    for note in workload.notes:
        print(f"  note: {note}")
    ref = results[0]
    ref_median = ref.median(workload.ops)
    server = any(t.server_us is not None for r in results for t in r.trials)
    head = f"  {'contender':<58} {'ops/s median':>13} {'min':>11} {'max':>11}"
    head += f" {workload.checksum_label:>9} {'ref/lib':>8}"
    print(head + (f" {'redis µs/call':>14}" if server else ""))
    ratios = []
    for res in results:
        rates = res.ops_per_s(workload.ops)
        median = statistics.median(rates)
        low, high = min(t.checksum for t in res.trials), max(t.checksum for t in res.trials)
        checksum = str(low) if low == high else f"{low}–{high}"
        if res is ref:
            ratio_text = "—"
        else:
            ratio = ref_median / median
            ratios.append((res.name, ratio))
            ratio_text = f"{ratio:.2f}"
        line = (
            f"  {res.name:<58} {fmt_rate(median):>13} {fmt_rate(min(rates)):>11} "
            f"{fmt_rate(max(rates)):>11} {checksum:>9} {ratio_text:>8}"
        )
        if server:
            us = [t.server_us for t in res.trials if t.server_us is not None]
            line += f" {statistics.median(us):>14.1f}" if us else f" {'—':>14}"
        print(line)
    return ratios
