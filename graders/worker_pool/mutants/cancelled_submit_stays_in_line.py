"""Mutant: a submitter cancelled while it waits for room stays in the line of waiters.

``submit`` puts a waiter in the FIFO deque and awaits its event with no cleanup around
the wait. When the caller's scope is cancelled, the cancellation leaves ``submit`` as it
should, but the waiter is still in the deque: the next time room appears it is admitted,
its job is queued and later runs — a job nobody holds a Job for, which also takes the
place of the submitter behind it. A submit that raises must leave no job behind, as a
cancelled ``send`` on an anyio memory object stream leaves no item (statement, "A
cancelled caller").
"""

from __future__ import annotations

import contextvars
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

import anyio
from anyio.abc import TaskGroup
from anyio.lowlevel import cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled

__mutant__ = {
    "mistake": "submit() waits for room with no cleanup on cancellation, so a cancelled submitter stays in the line of waiters and its job is accepted and run later anyway.",
    "parts": [2],
    "catches": ["POOL-CALLER-CANCEL"],
}

T = TypeVar("T")


class PoolClosed(RuntimeError):
    """submit() was called after the pool began closing."""


class JobCancelled(Exception):
    """The job was cancelled before it finished."""


_current_pools: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "deque_pool_current", default=frozenset()
)


class Job(Generic[T]):
    def __init__(self, pool: WorkerPool, fn: Callable[..., Awaitable[T]], args: Any) -> None:
        self._pool = pool
        self._fn = fn
        self._args = args
        self._state = "new"  # new → queued → running → done; new → done (never accepted)
        self._scope: anyio.CancelScope | None = None
        self._outcome: tuple[str, Any] | None = None  # ("value" | "error" | "cancelled", x)
        self._finished = anyio.Event()

    @property
    def done(self) -> bool:
        return self._state == "done"

    async def result(self) -> T:
        await self._finished.wait()
        assert self._outcome is not None
        kind, payload = self._outcome
        if kind == "cancelled":
            raise JobCancelled("job cancelled")
        if kind == "error":
            raise payload
        return cast(T, payload)

    def cancel(self) -> None:
        if self._state == "queued":
            self._pool._withdraw(self)
        elif self._state == "running" and self._scope is not None:
            self._scope.cancel()

    def _finish(self, kind: str, payload: Any = None) -> None:
        if self._state == "done":
            return
        self._state = "done"
        self._outcome = (kind, payload)
        self._pool._unfinished.discard(self)
        self._fn, self._args, self._scope = None, None, None  # type: ignore[assignment]
        self._finished.set()


class _Waiter:
    """A submitter waiting for room."""

    __slots__ = ("event", "job", "state")

    def __init__(self, job: Job[Any]) -> None:
        self.job = job
        self.event = anyio.Event()
        self.state = "waiting"  # → "accepted" | "closed"


class WorkerPool:
    def __init__(self, workers: int, queue_size: int) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError("workers must be an int >= 1")
        if not isinstance(queue_size, int) or isinstance(queue_size, bool) or queue_size < 0:
            raise ValueError("queue_size must be an int >= 0")
        self._workers = workers
        self._room = workers + queue_size
        self._queue: deque[Job[Any]] = deque()
        self._running = 0
        self._sleepers: deque[anyio.Event] = deque()
        self._waiters: deque[_Waiter] = deque()
        self._unfinished: set[Job[Any]] = set()
        self._tg: TaskGroup | None = None
        self._closing = False
        self._cancelling = False
        self._alive = 0
        self._all_exited: anyio.Event | None = None

    async def __aenter__(self) -> WorkerPool:
        if self._tg is not None or self._closing:
            raise RuntimeError("WorkerPool is single-use")
        self._all_exited = anyio.Event()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        for _ in range(self._workers):
            self._alive += 1
            tg.start_soon(self._worker)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None and self._all_exited is not None
        try:
            if exc_info[1] is None:
                self._shutdown(cancel=False)
                await self._all_exited.wait()
            else:
                self._shutdown(cancel=True)
        except BaseException:
            self._shutdown(cancel=True)
            raise
        finally:
            try:
                await self._tg.__aexit__(None, None, None)
            finally:
                self._closing = self._cancelling = True
                self._queue.clear()
                for job in list(self._unfinished):
                    job._finish("cancelled")

    # -- submitting -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise PoolClosed("pool closed")
        if self._tg is None:
            raise RuntimeError("use `async with WorkerPool(...)` first")

    def _has_room(self) -> bool:
        return len(self._queue) + self._running < self._room

    def _enqueue(self, job: Job[Any]) -> None:
        job._state = "queued"
        self._unfinished.add(job)
        self._queue.append(job)
        if self._sleepers:
            self._sleepers.popleft().set()

    def _admit_waiters(self) -> None:
        while self._waiters and not self._closing and self._has_room():
            waiter = self._waiters.popleft()
            waiter.state = "accepted"
            self._enqueue(waiter.job)
            waiter.event.set()

    async def submit(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        self._check_open()
        await checkpoint_if_cancelled()
        self._check_open()
        job = Job(self, fn, args)
        if not self._waiters and self._has_room():
            self._enqueue(job)
            await cancel_shielded_checkpoint()  # the job is accepted: never lose its handle
            return job
        waiter = _Waiter(job)
        self._waiters.append(waiter)
        await waiter.event.wait()
        if waiter.state == "closed":
            raise PoolClosed("pool closed while waiting for room")
        return job

    def submit_nowait(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        self._check_open()
        if self._waiters or not self._has_room():
            raise anyio.WouldBlock
        job = Job(self, fn, args)
        self._enqueue(job)
        return job

    def _withdraw(self, job: Job[Any]) -> None:
        self._queue.remove(job)
        job._finish("cancelled")
        self._admit_waiters()

    # -- closing ----------------------------------------------------------------------

    def _shutdown(self, *, cancel: bool) -> None:
        self._closing = True
        while self._waiters:
            waiter = self._waiters.popleft()
            waiter.state = "closed"
            waiter.event.set()
        while self._sleepers:
            self._sleepers.popleft().set()
        self._cancelling = self._cancelling or cancel
        if self._cancelling:
            while self._queue:
                self._queue.popleft()._finish("cancelled")
            for job in list(self._unfinished):
                job.cancel()

    async def close(self, *, cancel: bool = False) -> None:
        self._shutdown(cancel=cancel)
        if self._all_exited is None or id(self) in _current_pools.get():
            await checkpoint()
            return
        await self._all_exited.wait()

    # -- workers ----------------------------------------------------------------------

    async def _worker(self) -> None:
        _current_pools.set(_current_pools.get() | {id(self)})
        try:
            while True:
                if self._queue:
                    job = self._queue.popleft()
                    self._running += 1
                    try:
                        await self._run(job)
                    finally:
                        self._running -= 1
                        self._admit_waiters()
                    await checkpoint()
                    continue
                if self._closing:
                    return
                event = anyio.Event()
                self._sleepers.append(event)
                try:
                    await event.wait()
                except BaseException:
                    if event in self._sleepers:
                        self._sleepers.remove(event)
                    raise
        finally:
            self._alive -= 1
            if self._alive == 0 and self._all_exited is not None:
                self._all_exited.set()

    async def _run(self, job: Job[Any]) -> None:
        job._state = "running"
        try:
            with anyio.CancelScope() as scope:
                job._scope = scope
                value = await job._fn(*job._args)
                job._finish("value", value)
            job._finish("cancelled")  # no-op unless our scope swallowed a cancellation
        except Exception as exc:
            job._finish("error", exc)
        except anyio.get_cancelled_exc_class():
            job._finish("cancelled")
            if anyio.current_effective_deadline() == -math.inf:
                raise
        except BaseException as exc:
            job._finish("error", exc)
            raise
