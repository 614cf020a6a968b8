"""Public tests for part 2: cancellation and shutdown.

Each test runs its scenario with ``anyio.run`` (on asyncio), so no pytest plugin is
needed.
"""

from __future__ import annotations

import time

import anyio
import pytest
from worker_pool import JobCancelled, PoolClosed, WorkerPool


async def forever() -> None:
    await anyio.sleep_forever()


def test_a_cancelled_queued_job_never_starts() -> None:
    started: list[str] = []

    async def record(name: str) -> str:
        started.append(name)
        await anyio.sleep(0)
        return name

    async def scenario() -> None:
        release = anyio.Event()
        async with WorkerPool(workers=1, queue_size=2) as pool:
            await pool.submit(release.wait)
            queued = await pool.submit(record, "queued")
            queued.cancel()
            release.set()
        with pytest.raises(JobCancelled):
            await queued.result()
        assert started == []

    anyio.run(scenario)


def test_a_cancelled_running_job_frees_its_worker() -> None:
    async def scenario() -> None:
        async with WorkerPool(workers=1, queue_size=1) as pool:
            stuck = await pool.submit(forever)
            after = await pool.submit(anyio.sleep, 0)
            await anyio.wait_all_tasks_blocked()
            stuck.cancel()
            await after.result()  # the worker moved on to the next job
        with pytest.raises(JobCancelled):
            await stuck.result()

    anyio.run(scenario)


def test_close_stops_accepting_and_waits_for_the_jobs() -> None:
    finished: list[int] = []

    async def work(i: int) -> None:
        await anyio.sleep(0.01)
        finished.append(i)

    async def scenario() -> None:
        async with WorkerPool(workers=1, queue_size=2) as pool:
            for i in range(3):
                await pool.submit(work, i)
            await pool.close()
            assert finished == [0, 1, 2]
            with pytest.raises(PoolClosed):
                await pool.submit(work, 3)
            with pytest.raises(PoolClosed):
                pool.submit_nowait(work, 4)
            await pool.close()  # a second close is fine

    anyio.run(scenario)


def test_close_releases_a_submitter_waiting_for_room() -> None:
    async def scenario() -> None:
        outcome: list[str] = []
        release = anyio.Event()
        async with WorkerPool(workers=1, queue_size=0) as pool:
            await pool.submit(release.wait)

            async def submitter() -> None:
                try:
                    await pool.submit(anyio.sleep, 0)
                    outcome.append("accepted")
                except PoolClosed:
                    outcome.append("PoolClosed")

            async with anyio.create_task_group() as tg:
                tg.start_soon(submitter)
                await anyio.wait_all_tasks_blocked()  # it waits: the only worker is busy
                await pool.close(cancel=True)
        assert outcome == ["PoolClosed"]

    anyio.run(scenario)


def test_close_with_cancel_cancels_running_and_queued_jobs() -> None:
    async def scenario() -> None:
        async with WorkerPool(workers=1, queue_size=1) as pool:
            running = await pool.submit(forever)
            queued = await pool.submit(forever)
            await pool.close(cancel=True)
            assert running.done and queued.done
        for job in (running, queued):
            with pytest.raises(JobCancelled):
                await job.result()

    anyio.run(scenario)


def test_an_exception_leaving_the_block_cancels_the_jobs_and_goes_on() -> None:
    error = RuntimeError("the caller gave up")

    async def scenario() -> None:
        jobs = []
        with pytest.raises(RuntimeError) as caught:
            async with WorkerPool(workers=1, queue_size=1) as pool:
                jobs.append(await pool.submit(forever))
                jobs.append(await pool.submit(forever))
                raise error
        assert caught.value is error
        for job in jobs:
            with pytest.raises(JobCancelled):
                await job.result()

    anyio.run(scenario)


def test_an_outer_cancel_during_a_normal_exit_ends_the_block_promptly() -> None:
    async def scenario() -> None:
        begun = time.monotonic()
        with anyio.move_on_after(0.2):
            async with WorkerPool(workers=1, queue_size=1) as pool:
                running = await pool.submit(anyio.sleep, 30)
                queued = await pool.submit(anyio.sleep, 30)
            # leaving the block waits for the jobs … until the deadline cancels it
        assert time.monotonic() - begun < 5
        for job in (running, queued):
            with pytest.raises(JobCancelled):
                await job.result()

    anyio.run(scenario)
