"""Mutant: a ``close()`` made while the pool is already closing returns at once.

"close may be called more than once" read as "a second close() has nothing left to
do": it takes in a later ``cancel=True`` but returns without waiting, so a second task
waiting in ``close()`` returns while jobs still run. Several tasks may wait in
``close()`` at once, and every one of them returns when the last job has ended.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

import anyio
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__mutant__ = {
    "mistake": "close() returns at once when the pool is already closing (an early return meant to make it idempotent), so a second task waiting in close() returns while jobs still run.",
    "parts": [2],
    "catches": ["POOL-CLOSE"],
}

T = TypeVar("T")


class PoolClosed(RuntimeError):
    """submit() was called after the pool began closing."""


class JobCancelled(Exception):
    """The job was cancelled before it finished."""


_QUEUED, _RUNNING, _DONE = 0, 1, 2

# The pools whose jobs the current task is running inside (a job of one pool may run
# another pool). close() called from inside a job cannot wait for that job to end.
_inside_jobs_of: contextvars.ContextVar[tuple[WorkerPool, ...]] = contextvars.ContextVar(
    "worker_pool_inside_jobs_of", default=()
)


class Job(Generic[T]):
    """A submitted call: queued, running, or done with a value, an error or a cancellation."""

    __slots__ = (
        "_args",
        "_cancelled",
        "_error",
        "_event",
        "_fn",
        "_pool",
        "_scope",
        "_state",
        "_value",
    )

    def __init__(
        self, pool: WorkerPool, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]
    ) -> None:
        self._pool: WorkerPool | None = pool
        self._fn: Callable[..., Awaitable[T]] | None = fn
        self._args = args
        self._state = _QUEUED
        self._scope: anyio.CancelScope | None = None
        self._value: T | None = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._event: anyio.Event | None = None  # made only if someone waits

    @property
    def done(self) -> bool:
        return self._state == _DONE

    async def result(self) -> T:
        """Waits until the job ends; returns its value or raises its exception or
        ``JobCancelled``. Cancelling the caller does not cancel the job."""
        if self._state != _DONE:
            if self._event is None:
                self._event = anyio.Event()
            await self._event.wait()
        else:
            await checkpoint()
        if self._cancelled:
            raise JobCancelled("the job was cancelled before it finished")
        if self._error is not None:
            raise self._error
        return cast(T, self._value)

    def cancel(self) -> None:
        """Queued: ends now and never starts. Running: cancelled at its next checkpoint.
        Done: nothing."""
        if self._state == _QUEUED:
            self._end(cancelled=True)
        elif self._state == _RUNNING and self._scope is not None:
            self._scope.cancel()

    def _end(
        self, *, value: T | None = None, error: BaseException | None = None, cancelled: bool
    ) -> None:
        if self._state == _DONE:  # cannot happen; ending twice would break rule 5
            return
        self._state = _DONE
        self._value, self._error, self._cancelled = value, error, cancelled
        self._fn, self._args, self._scope = None, (), None  # let go of the call's objects
        if self._pool is not None:
            self._pool._unfinished.discard(self)
            self._pool = None
        if self._event is not None:
            self._event.set()

    def __repr__(self) -> str:
        state = {_QUEUED: "queued", _RUNNING: "running", _DONE: "done"}[self._state]
        return f"<Job {state}>"


class WorkerPool:
    """At most ``workers`` jobs run at once; at most ``queue_size`` wait to start."""

    def __init__(self, workers: int, queue_size: int) -> None:
        if type(workers) is not int or workers < 1:
            raise ValueError(f"workers must be an int >= 1, not {workers!r}")
        if type(queue_size) is not int or queue_size < 0:
            raise ValueError(f"queue_size must be an int >= 0, not {queue_size!r}")
        self._workers = workers
        self._queue_size = queue_size
        self._send: MemoryObjectSendStream[Job[Any]] | None = None
        self._receive: MemoryObjectReceiveStream[Job[Any]] | None = None
        self._task_group: TaskGroup | None = None
        self._entered = False
        self._closing = False  # no new jobs accepted
        self._cancelling = False  # no queued job starts; running ones are cancelled
        self._unfinished: set[Job[Any]] = set()
        self._live_workers = 0
        self._workers_done: anyio.Event | None = None

    async def __aenter__(self) -> WorkerPool:
        if self._entered or self._closing:
            raise RuntimeError("a WorkerPool can be entered only once, and not after close()")
        self._entered = True
        self._send, self._receive = anyio.create_memory_object_stream[Job[Any]](self._queue_size)
        self._workers_done = anyio.Event()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        for number in range(self._workers):
            task_group.start_soon(self._work, self._receive, name=f"worker_pool worker {number}")
        self._live_workers = self._workers
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task_group = self._task_group
        assert task_group is not None and self._workers_done is not None
        try:
            if exc_info[1] is None:
                self._shut_down(cancel=False)
                await self._workers_done.wait()
            else:
                self._shut_down(cancel=True)
        except BaseException:  # the enclosing scope was cancelled while we waited
            self._shut_down(cancel=True)
            raise
        finally:
            # Every worker is ending by now. Passing no exception keeps the task group
            # from wrapping the one that is leaving the block in an ExceptionGroup.
            try:
                await task_group.__aexit__(None, None, None)
            finally:
                self._end_leftovers()
        # Returning None lets the exception that left the block (if any) go on unchanged.

    async def submit(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        """Queues ``fn(*args)``, waiting for room; returns its Job once accepted."""
        send = self._accepting()
        job = Job(self, fn, args)
        self._unfinished.add(job)
        try:
            await send.send(job)
        except anyio.ClosedResourceError:  # close() withdrew us while we waited for room
            job._end(cancelled=True)
            raise PoolClosed("the pool is closed") from None
        except BaseException:
            # Cancelled while waiting. If the pool took the job at that very moment, it
            # is cancelled too: a submit that raises never leaves a job behind.
            job.cancel()
            raise
        return job

    def submit_nowait(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        """Queues ``fn(*args)`` if that needs no waiting; else raises ``anyio.WouldBlock``."""
        send = self._accepting()
        job = Job(self, fn, args)
        send.send_nowait(job)  # WouldBlock propagates
        self._unfinished.add(job)
        return job

    async def close(self, *, cancel: bool = False) -> None:
        """Stops accepting jobs and waits until every queued and running job has ended.

        With ``cancel=True`` queued jobs never start and running jobs are cancelled.
        Called from inside one of this pool's jobs, it does not wait (it cannot wait
        for the job that called it).
        """
        if self._closing:
            self._shut_down(cancel=cancel)
            await checkpoint()
            return
        self._shut_down(cancel=cancel)
        if self._workers_done is None or self in _inside_jobs_of.get():
            await checkpoint()
            return
        await self._workers_done.wait()

    # -- internals ------------------------------------------------------------------

    def _accepting(self) -> MemoryObjectSendStream[Job[Any]]:
        if self._closing:
            raise PoolClosed("the pool is closed")
        if self._send is None:
            raise RuntimeError("enter the pool with `async with` before submitting jobs")
        return self._send

    def _shut_down(self, *, cancel: bool) -> None:
        """Stops accepting; with ``cancel``, ends or cancels every unfinished job. Never
        waits. Later calls can add ``cancel`` but never take it back."""
        self._closing = True
        if self._send is not None:
            self._send.close()  # waiting submitters raise PoolClosed; workers drain and exit
        if cancel:
            self._cancelling = True
        if self._cancelling:
            for job in list(self._unfinished):
                job.cancel()
            self._drain()

    def _drain(self) -> None:
        """Takes every (already ended) job out of the buffer, so nothing holds on to them."""
        if self._receive is None:
            return
        while True:
            try:
                self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return

    def _end_leftovers(self) -> None:
        """After the task group: end any job an outer cancellation left behind."""
        self._closing = self._cancelling = True
        for job in list(self._unfinished):
            job._end(cancelled=True)
        self._drain()
        if self._receive is not None:
            self._receive.close()

    async def _work(self, receive: MemoryObjectReceiveStream[Job[Any]]) -> None:
        _inside_jobs_of.set((*_inside_jobs_of.get(), self))
        try:
            async for job in receive:
                if job._state != _QUEUED:
                    continue  # cancelled while it waited in the queue
                if self._cancelling:
                    job._end(cancelled=True)
                    continue
                await self._run(job)
        finally:
            self._live_workers -= 1
            if self._live_workers == 0 and self._workers_done is not None:
                self._workers_done.set()

    async def _run(self, job: Job[Any]) -> None:
        fn, args = job._fn, job._args
        assert fn is not None
        job._state = _RUNNING
        try:
            with anyio.CancelScope() as scope:
                job._scope = scope
                value = await fn(*args)  # the job starts here, in the step that took it
                job._end(value=value, cancelled=False)
            if not job.done:  # Job.cancel() cancelled the scope and the scope caught it
                job._end(cancelled=True)
        except Exception as exc:
            job._end(error=exc, cancelled=False)
        except anyio.get_cancelled_exc_class():
            job._end(cancelled=True)
            if anyio.current_effective_deadline() == -math.inf:
                raise  # the pool itself is being cancelled: this worker ends
            # Else the job raised a cancellation exception of its own making; the
            # worker goes on.
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: not a job error
            job._end(error=exc, cancelled=False)
            raise
