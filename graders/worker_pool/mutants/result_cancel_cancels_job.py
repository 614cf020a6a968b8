"""Mutant: cancelling a task that waits in ``result()`` cancels the job.

Modelled on awaiting an ``asyncio.Task`` (a cancelled awaiter cancels the task it
awaits), ``result()`` catches the caller's cancellation, calls ``self.cancel()`` and
re-raises. The waiter does leave at once, but the job — queued or running — is cancelled
with it, and every other task waiting for that job's result gets ``JobCancelled``
instead of its value. Cancelling a waiter must not touch the job (statement, "A
cancelled caller").
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint

__mutant__ = {
    "mistake": "result() cancels the job when the task waiting in it is cancelled (asyncio Task semantics), so one impatient waiter cancels the job for everyone.",
    "parts": [2],
    "catches": ["POOL-CALLER-CANCEL"],
}

T = TypeVar("T")


class PoolClosed(RuntimeError):
    """submit() was called after the pool began closing."""


class JobCancelled(Exception):
    """The job was cancelled before it finished."""


_QUEUED, _RUNNING, _DONE = "queued", "running", "done"

_inside: contextvars.ContextVar[tuple[object, ...]] = contextvars.ContextVar(
    "limiter_pool_inside", default=()
)


class Job(Generic[T]):
    def __init__(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> None:
        self.fn: Callable[..., Awaitable[T]] | None = fn
        self.args = args
        self.state = _QUEUED
        self.scope = anyio.CancelScope()  # the job task runs inside it
        self.outcome: tuple[str, Any] = ("", None)
        self.ended = anyio.Event()

    @property
    def done(self) -> bool:
        return self.state == _DONE

    async def result(self) -> T:
        try:
            await self.ended.wait()
        except anyio.get_cancelled_exc_class():
            self.cancel()  # like an awaited asyncio Task: the waiter gave up, so does the job
            raise
        kind, payload = self.outcome
        if kind == "cancelled":
            raise JobCancelled()
        if kind == "error":
            raise payload
        value: T = payload
        return value

    def cancel(self) -> None:
        if self.state == _QUEUED:
            self.end("cancelled", None)  # done at once; the task only has to unwind
            self.scope.cancel()
        elif self.state == _RUNNING:
            self.scope.cancel()

    def end(self, kind: str, payload: Any) -> None:
        if self.state != _DONE:
            self.state = _DONE
            self.outcome = (kind, payload)
            self.fn, self.args = None, ()
            self.ended.set()


class WorkerPool:
    def __init__(self, workers: int, queue_size: int) -> None:
        for name, value, low in (("workers", workers, 1), ("queue_size", queue_size, 0)):
            if type(value) is not int or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self._workers = workers
        self._queue_size = queue_size
        self._tg: TaskGroup | None = None
        self._room: anyio.Semaphore | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._closing = False
        self._cancelling = False
        self._jobs: set[Job[Any]] = set()  # accepted and not ended
        self._tasks = 0  # job tasks still alive
        self._quiet: anyio.Event | None = None  # set once closing and no task is left
        self._waiting_scopes: set[anyio.CancelScope] = set()
        self._next_ticket = 0
        self._turn = 0
        self._turn_events: dict[int, anyio.Event] = {}
        self._skipped: set[int] = set()

    async def __aenter__(self) -> WorkerPool:
        if self._tg is not None or self._closing:
            raise RuntimeError("a WorkerPool runs once")
        self._room = anyio.Semaphore(self._workers + self._queue_size)
        self._limiter = anyio.CapacityLimiter(self._workers)
        self._quiet = anyio.Event()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None and self._quiet is not None
        try:
            if exc_info[1] is None:
                self._close(cancel=False)
                await self._quiet.wait()
            else:
                self._close(cancel=True)
        except BaseException:
            self._close(cancel=True)
            raise
        finally:
            try:
                await self._tg.__aexit__(None, None, None)
            finally:
                for job in list(self._jobs):
                    job.end("cancelled", None)
                self._jobs.clear()

    # -- tickets: the order in which jobs may take a worker ------------------------------

    def _draw_ticket(self) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        return ticket

    def _pass_turn(self) -> None:
        self._turn += 1
        while self._turn in self._skipped:
            self._skipped.discard(self._turn)
            self._turn += 1
        event = self._turn_events.pop(self._turn, None)
        if event is not None:
            event.set()

    def _give_up_ticket(self, ticket: int) -> None:
        if ticket == self._turn:
            self._pass_turn()
        elif ticket > self._turn:
            self._skipped.add(ticket)

    # -- submitting ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise PoolClosed("the pool is closing")
        if self._tg is None:
            raise RuntimeError("enter the pool with `async with` first")

    async def submit(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        self._check_open()
        assert self._room is not None
        ticket = self._draw_ticket()
        acquired = False
        with anyio.CancelScope() as scope:
            self._waiting_scopes.add(scope)
            try:
                await self._room.acquire()
                acquired = True
            except BaseException:
                self._give_up_ticket(ticket)
                raise
            finally:
                self._waiting_scopes.discard(scope)
        if not acquired:  # close() cancelled our wait
            raise PoolClosed("the pool closed while this submit waited for room")
        if self._closing:  # room came at the very moment the pool began closing
            self._room.release()
            self._give_up_ticket(ticket)
            raise PoolClosed("the pool is closing")
        return self._accept(fn, args, ticket)

    def submit_nowait(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        self._check_open()
        assert self._room is not None
        self._room.acquire_nowait()  # WouldBlock when no room (or others wait for it)
        return self._accept(fn, args, self._draw_ticket())

    def _accept(
        self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], ticket: int
    ) -> Job[T]:
        assert self._tg is not None
        job = Job(fn, args)
        self._jobs.add(job)
        self._tasks += 1
        self._tg.start_soon(self._job_task, job, ticket)
        return job

    # -- closing ---------------------------------------------------------------------------

    def _close(self, *, cancel: bool) -> None:
        self._closing = True
        for scope in list(self._waiting_scopes):
            scope.cancel()
        self._cancelling = self._cancelling or cancel
        if self._cancelling:
            for job in list(self._jobs):
                job.cancel()
        if self._tasks == 0 and self._quiet is not None:
            self._quiet.set()

    async def close(self, *, cancel: bool = False) -> None:
        self._close(cancel=cancel)
        if self._quiet is None or self in _inside.get():
            await checkpoint()
            return
        await self._quiet.wait()

    # -- one task per job ------------------------------------------------------------------

    async def _job_task(self, job: Job[Any], ticket: int) -> None:
        assert self._limiter is not None and self._room is not None
        _inside.set((*_inside.get(), self))
        passed = False  # has this ticket's turn come and gone?
        holding = False
        try:
            with job.scope:
                if self._turn != ticket:
                    event = anyio.Event()
                    self._turn_events[ticket] = event
                    await event.wait()
                await self._limiter.acquire_on_behalf_of(job)
                holding = True
                passed = True
                self._pass_turn()
                if job.state == _QUEUED and not self._cancelling:
                    job.state = _RUNNING
                    assert job.fn is not None
                    value = await job.fn(*job.args)
                    job.end("value", value)
            job.end("cancelled", None)  # no-op unless the scope caught a cancellation
        except Exception as exc:
            job.end("error", exc)
        except anyio.get_cancelled_exc_class():
            job.end("cancelled", None)
            if anyio.current_effective_deadline() != -math.inf:
                pass  # the job raised a cancellation of its own; this task ends anyway
            else:
                raise
        except BaseException as exc:
            job.end("error", exc)
            raise
        finally:
            if not passed:
                if self._turn == ticket:
                    self._pass_turn()  # had the turn but never got a worker
                else:
                    self._turn_events.pop(ticket, None)
                    self._skipped.add(ticket)  # left before its turn came
            if holding:
                self._limiter.release_on_behalf_of(job)
            self._jobs.discard(job)
            self._room.release()
            self._tasks -= 1
            if self._closing and self._tasks == 0 and self._quiet is not None:
                self._quiet.set()
