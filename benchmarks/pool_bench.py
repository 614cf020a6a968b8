"""The worker-pool reference against anyio's own parts and aiometer, on one workload.

Like with like: every contender runs the same N jobs — ``async def job(i)`` that yields
to the event loop once and returns ``i`` — at most ``WORKERS`` at a time, and hands
every result back (the checksum is their sum, so a contender that lost a job shows
it). The reference is ``async with WorkerPool(8, 64)``, ``await pool.submit(job, i)``
for each job, then ``await job.result()`` for each after the block.

- anyio ``TaskGroup`` + ``CapacityLimiter(8)``, the way people write it: one task per
  job started at once (no bound on waiting jobs), each holding the limiter while it
  runs, its result stored in a list.
- the same with the pool's admission bound: a ``Semaphore(8 + 64)`` taken before
  ``start_soon`` and given back when the job ends, so at most 8 run and 64 wait, like
  the pool's backpressure.
- ``aiometer.run_all`` of the N jobs with ``max_at_once=8`` (it returns the results).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.lowlevel import checkpoint

from .common import load_reference, missing
from .timing import Contender, Workload, timed_async

WORKERS = 8
QUEUE = 64


async def job(i: int) -> int:
    await checkpoint()
    return i


def _reference(pool_module: Any, n: int) -> Callable[[], Awaitable[int]]:
    async def call() -> int:
        jobs = []
        async with pool_module.WorkerPool(WORKERS, QUEUE) as pool:
            for i in range(n):
                jobs.append(await pool.submit(job, i))
        return sum([await j.result() for j in jobs])

    return call


def _task_group(n: int, bounded: bool) -> Callable[[], Awaitable[int]]:
    async def call() -> int:
        limiter = anyio.CapacityLimiter(WORKERS)
        slots = anyio.Semaphore(WORKERS + QUEUE)
        results = [0] * n

        async def run(i: int) -> None:
            try:
                async with limiter:
                    results[i] = await job(i)
            finally:
                if bounded:
                    slots.release()

        async with anyio.create_task_group() as tg:
            for i in range(n):
                if bounded:
                    await slots.acquire()
                tg.start_soon(run, i)
        return sum(results)

    return call


def _aiometer(n: int) -> Callable[[], Awaitable[int]]:
    import aiometer

    async def call() -> int:
        calls = [functools.partial(job, i) for i in range(n)]
        return sum(await aiometer.run_all(calls, max_at_once=WORKERS))

    return call


def workload(scale: float, backend: str) -> Workload | str:
    pool_module = load_reference("worker_pool", "worker_pool.py")
    n = max(100, int(10_000 * scale))
    contenders = [
        Contender(
            "reference WorkerPool(8, 64)",
            timed_async(lambda: _reference(pool_module, n), backend),
        ),
        Contender(
            "anyio TaskGroup + CapacityLimiter(8), unbounded",
            timed_async(lambda: _task_group(n, bounded=False), backend),
        ),
        Contender(
            "anyio TaskGroup + CapacityLimiter(8) + Semaphore(72)",
            timed_async(lambda: _task_group(n, bounded=True), backend),
        ),
    ]
    notes = [
        "unbounded: all jobs are tasks at once (no backpressure), unlike the pool",
    ]
    if gone := missing("aiometer"):
        notes.append(f"aiometer not installed ({', '.join(gone)}): pip install '.[bench]'")
    else:
        contenders.append(
            Contender("aiometer.run_all(max_at_once=8)", timed_async(lambda: _aiometer(n), backend))
        )
    return Workload(
        title=f"worker pool, anyio on {backend}: reference vs anyio TaskGroup and aiometer",
        description=(
            f"{n:,} jobs (each yields to the loop once and returns its index) through "
            f"{WORKERS} workers with queue {QUEUE}, every result collected, one event loop "
            "per round (its start-up not timed)"
        ),
        ops=n,
        contenders=tuple(contenders),
        checksum_label="sum",
        notes=tuple(notes),
    )
