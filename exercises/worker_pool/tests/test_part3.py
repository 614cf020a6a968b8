"""Public tests for part 3: the same pool on every anyio backend.

Each scenario runs with ``anyio.run`` on asyncio and on trio. Trio is stricter than
asyncio: a stray ``asyncio`` call, or a task left running after the block, fails here.
"""

from __future__ import annotations

import anyio
import pytest
from worker_pool import JobCancelled, PoolClosed, WorkerPool

BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_order_and_bounds(backend: str) -> None:
    started: list[int] = []
    running = [0, 0]  # now, most

    async def work(i: int) -> int:
        started.append(i)
        running[0] += 1
        running[1] = max(running)
        await anyio.sleep(0.001)
        running[0] -= 1
        return i

    async def scenario() -> None:
        async with WorkerPool(workers=2, queue_size=1) as pool:
            jobs = [await pool.submit(work, i) for i in range(8)]
        assert [await job.result() for job in jobs] == list(range(8))
        assert running[1] == 2

    anyio.run(scenario, backend=backend)
    assert sorted(started) == list(range(8))


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_and_close(backend: str) -> None:
    async def scenario() -> None:
        async with WorkerPool(workers=1, queue_size=1) as pool:
            running = await pool.submit(anyio.sleep_forever)
            queued = await pool.submit(anyio.sleep, 0)
            queued.cancel()
            await anyio.wait_all_tasks_blocked()
            running.cancel()
            await pool.close()
            with pytest.raises(PoolClosed):
                pool.submit_nowait(anyio.sleep, 0)
        for job in (running, queued):
            with pytest.raises(JobCancelled):
                await job.result()

    anyio.run(scenario, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_outer_cancel_leaves_no_task_behind(backend: str) -> None:
    async def scenario() -> None:
        tasks_before = len(anyio.get_running_tasks())
        with anyio.move_on_after(0.05):
            async with WorkerPool(workers=3, queue_size=3) as pool:
                jobs = [await pool.submit(anyio.sleep_forever) for _ in range(6)]
        assert len(anyio.get_running_tasks()) == tasks_before
        for job in jobs:
            with pytest.raises(JobCancelled):
                await job.result()

    anyio.run(scenario, backend=backend)
