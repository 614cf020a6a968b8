"""Public tests for part 1: a bounded, fair, complete worker pool.

Each test runs its scenario with ``anyio.run`` (on asyncio), so no pytest plugin is
needed. Jobs wait on events that the test sets, so nothing depends on timing.
"""

from __future__ import annotations

import anyio
import pytest
from worker_pool import WorkerPool


class Gated:
    """Jobs that record when they start and finish only when the test opens their gate."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.running = 0
        self.most_running = 0
        self.gates: dict[int, anyio.Event] = {}

    def gate(self, i: int) -> anyio.Event:
        return self.gates.setdefault(i, anyio.Event())

    async def job(self, i: int) -> int:
        self.started.append(i)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.gate(i).wait()
        finally:
            self.running -= 1
        return i * 10

    def open_all(self) -> None:
        for i in range(100):
            self.gate(i).set()


def test_results_come_back_in_their_jobs() -> None:
    async def square(x: int) -> int:
        await anyio.sleep(0)
        return x * x

    async def scenario() -> None:
        async with WorkerPool(workers=3, queue_size=2) as pool:
            jobs = [await pool.submit(square, x) for x in range(10)]
            assert [await job.result() for job in jobs] == [x * x for x in range(10)]
            assert all(job.done for job in jobs)

    anyio.run(scenario)


def test_never_more_jobs_run_than_workers() -> None:
    async def scenario() -> None:
        jobs = Gated()
        async with WorkerPool(workers=2, queue_size=10) as pool:
            for i in range(6):
                await pool.submit(jobs.job, i)
            await anyio.wait_all_tasks_blocked()
            assert jobs.running == 2
            jobs.open_all()
        assert jobs.most_running == 2

    anyio.run(scenario)


def test_submit_nowait_raises_would_block_when_the_queue_is_full() -> None:
    async def scenario() -> None:
        jobs = Gated()
        async with WorkerPool(workers=1, queue_size=2) as pool:
            await anyio.wait_all_tasks_blocked()  # the worker is up and idle
            for i in range(3):  # one runs, two wait in the queue
                pool.submit_nowait(jobs.job, i)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(anyio.WouldBlock):
                pool.submit_nowait(jobs.job, 3)
            jobs.open_all()

    anyio.run(scenario)


def test_submit_waits_until_there_is_room() -> None:
    async def scenario() -> None:
        jobs = Gated()
        returned = anyio.Event()
        async with WorkerPool(workers=1, queue_size=1) as pool:
            await pool.submit(jobs.job, 0)
            await pool.submit(jobs.job, 1)

            async def third() -> None:
                await pool.submit(jobs.job, 2)
                returned.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(third)
                await anyio.wait_all_tasks_blocked()
                assert not returned.is_set()  # 1 running, 1 queued: no room
                jobs.gate(0).set()  # job 0 ends, job 1 starts, job 2 fits in the queue
                await returned.wait()
            jobs.open_all()

    anyio.run(scenario)


def test_jobs_start_in_the_order_they_were_submitted() -> None:
    async def scenario() -> None:
        jobs = Gated()
        async with WorkerPool(workers=1, queue_size=5) as pool:
            for i in range(6):
                await pool.submit(jobs.job, i)
            jobs.open_all()
        assert jobs.started == [0, 1, 2, 3, 4, 5]

    anyio.run(scenario)


def test_a_failing_job_fails_only_its_own_job() -> None:
    error = KeyError("boom")

    async def fail() -> None:
        raise error

    async def ok(x: int) -> int:
        await anyio.sleep(0)
        return x

    async def scenario() -> None:
        async with WorkerPool(workers=2, queue_size=2) as pool:
            bad = await pool.submit(fail)
            good = [await pool.submit(ok, x) for x in range(5)]
        with pytest.raises(KeyError) as caught:
            await bad.result()
        assert caught.value is error
        assert [await job.result() for job in good] == [0, 1, 2, 3, 4]

    anyio.run(scenario)


def test_leaving_the_block_waits_for_every_job() -> None:
    finished: list[int] = []

    async def work(i: int) -> None:
        await anyio.sleep(0.01)
        finished.append(i)

    async def scenario() -> None:
        async with WorkerPool(workers=2, queue_size=3) as pool:
            jobs = [await pool.submit(work, i) for i in range(5)]
        assert sorted(finished) == [0, 1, 2, 3, 4]
        assert all(job.done for job in jobs)

    anyio.run(scenario)


@pytest.mark.parametrize(("workers", "queue_size"), [(0, 1), (-1, 0), (1, -1)])
def test_bad_sizes_raise_value_error(workers: int, queue_size: int) -> None:
    with pytest.raises(ValueError):
        WorkerPool(workers, queue_size)
