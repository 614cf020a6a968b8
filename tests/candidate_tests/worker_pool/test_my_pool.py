"""My own tests for the worker pool (parts 1-3), written against the statement only.

Every scenario runs on asyncio and on trio. Jobs wait on events the test sets, and
the test looks at the pool only once every task is blocked
(``anyio.wait_all_tasks_blocked``), so nothing depends on timing; a deadline
(``anyio.fail_after``) turns a pool that hangs into a failure instead of a stuck run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from worker_pool import JobCancelled, PoolClosed, WorkerPool

BACKENDS = ["asyncio", "trio"]
Scenario = Callable[[], Awaitable[None]]


def run(backend: str, scenario: Scenario) -> None:
    async def main() -> None:
        with anyio.fail_after(10):
            await scenario()

    anyio.run(main, backend=backend)


class Jobs:
    """Jobs that record starts and ends, and finish only when their gate opens."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.ended: list[int] = []
        self.running = 0
        self.most = 0
        self.gates: dict[int, anyio.Event] = {}

    def gate(self, i: int) -> anyio.Event:
        return self.gates.setdefault(i, anyio.Event())

    async def job(self, i: int) -> int:
        self.started.append(i)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate(i).wait()
        finally:
            self.running -= 1
        self.ended.append(i)
        return i * 10

    def open(self, *ids: int) -> None:
        for i in ids:
            self.gate(i).set()


settle = anyio.wait_all_tasks_blocked
backends = pytest.mark.parametrize("backend", BACKENDS)


# ---------------------------------------------------------------- part 1


@backends
def test_statement_example(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        async with WorkerPool(workers=2, queue_size=1) as pool:
            a = await pool.submit(jobs.job, 0)
            b = await pool.submit(jobs.job, 1)
            await pool.submit(jobs.job, 2)
            await settle()
            assert sorted(jobs.started) == [0, 1]  # same instant: either order
            with pytest.raises(anyio.WouldBlock):
                pool.submit_nowait(jobs.job, 3)
            accepted: list[Any] = []

            async def submit_d() -> None:
                accepted.append(await pool.submit(jobs.job, 3))

            async with anyio.create_task_group() as tg:
                tg.start_soon(submit_d)
                await settle()
                assert accepted == []  # waits for room
                jobs.open(0, 1)
                await settle()
                assert accepted  # room appeared: d accepted (and, a worker being idle, started)
                assert sorted(jobs.started) == [0, 1, 2, 3]
            jobs.open(2, 3)
            assert await a.result() == 0 and await b.result() == 10
        assert sorted(jobs.started) == [0, 1, 2, 3]
        assert jobs.most == 2

    run(backend, scenario)


@backends
def test_rendezvous_queue_takes_one_job_per_idle_worker(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        async with WorkerPool(workers=1, queue_size=0) as pool:
            await settle()
            pool.submit_nowait(jobs.job, 0)
            await settle()
            assert jobs.started == [0]
            with pytest.raises(anyio.WouldBlock):
                pool.submit_nowait(jobs.job, 1)
            jobs.open(0)

    run(backend, scenario)


@backends
def test_a_job_given_to_an_idle_pool_starts_at_once(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        async with WorkerPool(workers=3, queue_size=2) as pool:
            await settle()
            await pool.submit(jobs.job, 0)
            await settle()
            assert jobs.started == [0]
            jobs.open(0)
            await settle()
            assert jobs.ended == [0]

    run(backend, scenario)


@backends
def test_jobs_start_in_submission_order(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        async with WorkerPool(workers=1, queue_size=5) as pool:
            for i in range(6):
                await pool.submit(jobs.job, i)
            for i in range(6):
                await settle()
                assert jobs.started == list(range(i + 1))
                jobs.open(i)
        assert jobs.ended == list(range(6))

    run(backend, scenario)


@backends
@pytest.mark.parametrize("queue_size", [0, 1])
def test_waiting_submitters_are_served_first_come_first_served(
    backend: str, queue_size: int
) -> None:
    async def scenario() -> None:
        for _ in range(3 if backend == "trio" else 1):  # trio wakes in a random order
            jobs = Jobs()
            async with WorkerPool(workers=1, queue_size=queue_size) as pool:
                for i in range(1 + queue_size):
                    await pool.submit(jobs.job, i)
                async with anyio.create_task_group() as tg:
                    n = 1 + queue_size
                    for i in range(n, n + 4):
                        tg.start_soon(pool.submit, jobs.job, i)
                        await settle()
                    for i in range(n + 4):
                        jobs.open(i)
                        await settle()
                        if i + 1 < n + 4 - queue_size:  # someone still waits
                            # room went to the waiter at the head of the line, at once
                            with pytest.raises(anyio.WouldBlock):
                                pool.submit_nowait(jobs.job, 99)
            assert jobs.started == list(range(1 + queue_size + 4))

    run(backend, scenario)


@backends
def test_a_failing_job_keeps_its_error_and_the_pool_goes_on(backend: str) -> None:
    async def scenario() -> None:
        error = ValueError("boom")

        async def fail() -> None:
            raise error

        async def ok(i: int) -> int:
            return i

        async with WorkerPool(workers=1, queue_size=4) as pool:
            bad = await pool.submit(fail)
            more = [await pool.submit(ok, i) for i in range(3)]
            bad2 = await pool.submit(fail)
            last = await pool.submit(ok, 9)
            for _ in range(2):
                with pytest.raises(ValueError) as caught:
                    await bad.result()
                assert caught.value is error
            assert [await j.result() for j in more] == [0, 1, 2]
            with pytest.raises(ValueError):
                await bad2.result()
            assert await last.result() == 9

    run(backend, scenario)


@backends
def test_a_function_that_is_not_async_fails_only_its_job(backend: str) -> None:
    async def scenario() -> None:
        async def ok() -> str:
            return "ok"

        async with WorkerPool(workers=1, queue_size=2) as pool:
            bad = await pool.submit(lambda: 1)  # type: ignore[arg-type, return-value]
            good = await pool.submit(ok)
            with pytest.raises(TypeError):
                await bad.result()
            assert await good.result() == "ok"

    run(backend, scenario)


@backends
def test_a_normal_exit_runs_every_queued_job(backend: str) -> None:
    async def scenario() -> None:
        async def slow(i: int) -> int:
            await anyio.sleep(0.001)
            return i

        async with WorkerPool(workers=1, queue_size=4) as pool:
            js = [await pool.submit(slow, i) for i in range(5)]
        assert all(j.done for j in js)
        assert [await j.result() for j in js] == list(range(5))

    run(backend, scenario)


@backends
def test_every_result_waiter_gets_the_outcome(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        got: list[int] = []
        async with WorkerPool(workers=1, queue_size=1) as pool:
            job = await pool.submit(jobs.job, 1)

            async def wait() -> None:
                got.append(await job.result())

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(wait)
                await settle()
                jobs.open(1)
        assert got == [10, 10, 10]

    run(backend, scenario)


@pytest.mark.parametrize(("workers", "queue_size"), [(0, 1), (1, -1), (2.5, 1), (1, 1.5), ("3", 1)])
def test_bad_arguments_raise(workers: Any, queue_size: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        WorkerPool(workers=workers, queue_size=queue_size)


@backends
def test_submitting_before_enter_raises_and_accepts_nothing(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        pool = WorkerPool(workers=1, queue_size=1)
        with pytest.raises(RuntimeError):
            pool.submit_nowait(jobs.job, 0)
        with pytest.raises(RuntimeError):
            await pool.submit(jobs.job, 1)
        jobs.open(0, 1, 2)
        async with pool:
            await pool.submit(jobs.job, 2)
        assert jobs.started == [2]

    run(backend, scenario)


# ---------------------------------------------------------------- part 2


@backends
def test_a_cancelled_queued_job_never_starts(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        async with WorkerPool(workers=1, queue_size=2) as pool:
            await pool.submit(jobs.job, 0)
            queued = await pool.submit(jobs.job, 1)
            queued.cancel()
            assert queued.done
            with pytest.raises(JobCancelled):
                await queued.result()
            jobs.open(0, 1)
        assert jobs.started == [0]
        with pytest.raises(JobCancelled):
            await queued.result()

    run(backend, scenario)


@backends
def test_a_cancelled_running_job_frees_its_worker_at_once(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        async with WorkerPool(workers=2, queue_size=4) as pool:
            running = [await pool.submit(jobs.job, i) for i in range(2)]
            more = [await pool.submit(jobs.job, i) for i in range(2, 6)]
            await settle()
            for job in running:
                job.cancel()
            await settle()
            assert sorted(jobs.started) == [0, 1, 2, 3]
            for job in running:
                with pytest.raises(JobCancelled):
                    await job.result()
            more[0].cancel()
            more[1].cancel()
            await settle()
            assert sorted(jobs.started) == [0, 1, 2, 3, 4, 5]
            jobs.open(4, 5)
        assert sorted(jobs.ended) == [4, 5]

    run(backend, scenario)


@backends
def test_close_releases_waiting_submitters_at_once(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        outcome: list[str] = []
        async with WorkerPool(workers=1, queue_size=0) as pool:
            await pool.submit(jobs.job, 0)

            async def waiter() -> None:
                try:
                    await pool.submit(jobs.job, 1)
                    outcome.append("accepted")
                except PoolClosed:
                    outcome.append("closed")

            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await settle()
                tg.start_soon(pool.close)
                await settle()
                assert outcome == ["closed"]
                with pytest.raises(PoolClosed):
                    pool.submit_nowait(jobs.job, 2)
                jobs.open(0)
        assert jobs.started == [0]

    run(backend, scenario)


@backends
def test_close_cancel_is_sticky(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        async with WorkerPool(workers=1, queue_size=2) as pool:
            first = await pool.submit(jobs.job, 0)
            queued = [await pool.submit(jobs.job, i) for i in (1, 2)]
            await settle()
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: pool.close(cancel=True))
                tg.start_soon(pool.close)
        assert jobs.started == [0]
        for job in [first, *queued]:
            with pytest.raises(JobCancelled):
                await job.result()

    run(backend, scenario)


@backends
def test_an_exception_leaving_the_block_is_not_wrapped(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        error = KeyError("mine")
        with pytest.raises(KeyError) as caught:
            async with WorkerPool(workers=1, queue_size=1) as pool:
                running = await pool.submit(jobs.job, 0)
                queued = await pool.submit(jobs.job, 1)
                await settle()
                raise error
        assert caught.value is error
        assert jobs.started == [0]
        for job in (running, queued):
            with pytest.raises(JobCancelled):
                await job.result()

    run(backend, scenario)


def test_no_pool_task_outlives_the_block() -> None:
    async def scenario() -> None:
        jobs = Jobs()
        before = len(asyncio.all_tasks())
        with pytest.raises(KeyError):
            async with WorkerPool(workers=3, queue_size=1) as pool:
                await pool.submit(jobs.job, 0)
                await settle()
                raise KeyError("x")
        assert len(asyncio.all_tasks()) == before
        async with WorkerPool(workers=3, queue_size=1) as pool:
            jobs.open(1)
            await pool.submit(jobs.job, 1)
        assert len(asyncio.all_tasks()) == before

    run("asyncio", scenario)


@backends
def test_an_outer_cancellation_ends_the_jobs_and_the_block_promptly(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        with anyio.move_on_after(0.05) as scope:
            async with WorkerPool(workers=1, queue_size=1) as pool:
                running = await pool.submit(jobs.job, 0)
                queued = await pool.submit(jobs.job, 1)
                # a normal exit waiting for jobs that never end, until the deadline
        assert scope.cancelled_caught
        for job in (running, queued):
            with pytest.raises(JobCancelled):
                await job.result()
        assert jobs.started == [0]

    run(backend, scenario)


@backends
def test_a_cancelled_submitter_leaves_no_job_behind(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        async with WorkerPool(workers=1, queue_size=0) as pool:
            await pool.submit(jobs.job, 0)
            scope = anyio.CancelScope()

            async def cancelled() -> None:
                with scope:
                    await pool.submit(jobs.job, 1)  # waits for room, then is cancelled

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancelled)
                await settle()
                tg.start_soon(pool.submit, jobs.job, 2)  # next in line
                await settle()
                scope.cancel()
                await settle()
                jobs.open(0, 2)
        assert jobs.started == [0, 2]

    run(backend, scenario)


@backends
def test_a_cancelled_close_caller_leaves_at_once(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        left: list[bool] = []
        async with WorkerPool(workers=1, queue_size=1) as pool:
            job = await pool.submit(jobs.job, 0)

            async def closer(scope: anyio.CancelScope) -> None:
                with scope:
                    await pool.close()
                left.append(True)

            async with anyio.create_task_group() as tg:
                scope = anyio.CancelScope()
                tg.start_soon(closer, scope)
                await settle()
                scope.cancel()
                await settle()
                assert left == [True]
                assert not job.done
                jobs.open(0)
        assert await job.result() == 0

    run(backend, scenario)


@backends
def test_a_cancelled_result_waiter_does_not_touch_the_job(backend: str) -> None:
    async def scenario() -> None:
        jobs = Jobs()
        got: list[int] = []
        async with WorkerPool(workers=1, queue_size=1) as pool:
            job = await pool.submit(jobs.job, 0)

            async def waiter(scope: anyio.CancelScope | None) -> None:
                if scope is None:
                    got.append(await job.result())
                    return
                with scope:
                    await job.result()

            async with anyio.create_task_group() as tg:
                scope = anyio.CancelScope()
                tg.start_soon(waiter, scope)
                tg.start_soon(waiter, None)
                await settle()
                scope.cancel()
                await settle()
                assert not job.done
                jobs.open(0)
        assert got == [0]
        assert await job.result() == 0

    run(backend, scenario)
