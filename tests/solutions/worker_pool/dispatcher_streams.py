"""A correct alternative: one dispatcher task, one task per job, and a memory object
stream per job for its result.

Submitters send jobs into a memory object stream with a buffer of ``queue_size``. One
dispatcher task takes a worker slot (an ``anyio.Semaphore`` of ``workers``) *before*
it receives, so it waits in ``receive`` only while a worker is free: a buffer of 0 is
then a rendezvous with a free worker, and a full buffer means every worker is busy.
Each job it receives gets a task of its own in the pool's task group, which gives the
slot back when the job ends.

``Job.result()`` waits on a zero-buffer memory object stream of its own that nobody
ever sends on: the job's end closes the send side, and every task waiting in
``receive`` (each on a clone) gets ``EndOfStream`` at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

import anyio
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

T = TypeVar("T")


class PoolClosed(RuntimeError):
    """submit() was called after the pool began closing."""


class JobCancelled(Exception):
    """The job was cancelled before it finished."""


_inside: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "dispatcher_pool_inside", default=frozenset()
)


class Job(Generic[T]):
    def __init__(self, pool: WorkerPool, fn: Callable[..., Awaitable[T]], args: Any) -> None:
        self._pool: WorkerPool | None = pool
        self._fn: Any = fn
        self._args: Any = args
        self._state = "queued"
        self._scope: anyio.CancelScope | None = None
        self._outcome: tuple[str, Any] = ("", None)
        self._done_send: MemoryObjectSendStream[None]
        self._done_recv: MemoryObjectReceiveStream[None]
        self._done_send, self._done_recv = anyio.create_memory_object_stream[None](0)

    @property
    def done(self) -> bool:
        return self._state == "done"

    async def result(self) -> T:
        if self._state != "done":
            # The job's end closes the send side: every waiting receiver gets EndOfStream.
            with self._done_recv.clone() as receiver, contextlib.suppress(anyio.EndOfStream):
                await receiver.receive()
        else:
            await checkpoint()
        kind, payload = self._outcome
        if kind == "cancelled":
            raise JobCancelled("the job was cancelled")
        if kind == "error":
            raise payload
        return cast(T, payload)

    def cancel(self) -> None:
        if self._state == "queued":
            self._end("cancelled")
        elif self._state == "running" and self._scope is not None:
            self._scope.cancel()

    def _end(self, kind: str, payload: Any = None) -> None:
        if self._state == "done":
            return
        self._state = "done"
        self._outcome = (kind, payload)
        self._fn = self._args = self._scope = None
        if self._pool is not None:
            self._pool._unfinished.discard(self)
            self._pool = None
        self._done_send.close()  # wakes every receiver with EndOfStream
        self._done_recv.close()  # the clones of waiting tasks stay open until they leave


class WorkerPool:
    def __init__(self, workers: int, queue_size: int) -> None:
        if type(workers) is not int or workers < 1:
            raise ValueError(f"bad workers: {workers!r}")
        if type(queue_size) is not int or queue_size < 0:
            raise ValueError(f"bad queue_size: {queue_size!r}")
        self._workers = workers
        self._queue_size = queue_size
        self._tg: TaskGroup | None = None
        self._send: MemoryObjectSendStream[Job[Any]] | None = None
        self._recv: MemoryObjectReceiveStream[Job[Any]] | None = None
        self._slots: anyio.Semaphore | None = None
        self._unfinished: set[Job[Any]] = set()
        self._closing = False
        self._cancelling = False
        self._busy = 0  # the dispatcher + job tasks alive
        self._idle: anyio.Event | None = None

    async def __aenter__(self) -> WorkerPool:
        if self._tg is not None or self._closing:
            raise RuntimeError("a WorkerPool is entered once")
        self._send, self._recv = anyio.create_memory_object_stream[Job[Any]](self._queue_size)
        self._slots = anyio.Semaphore(self._workers)
        self._idle = anyio.Event()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._busy = 1
        tg.start_soon(self._dispatch, name="pool dispatcher")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None and self._idle is not None
        try:
            if exc_info[1] is None:
                self._shut(cancel=False)
                await self._idle.wait()
            else:
                self._shut(cancel=True)
        except BaseException:
            self._shut(cancel=True)
            raise
        finally:
            try:
                await self._tg.__aexit__(None, None, None)
            finally:
                self._closing = self._cancelling = True
                for job in list(self._unfinished):
                    job._end("cancelled")
                if self._recv is not None:
                    self._recv.close()

    # -- submitting -------------------------------------------------------------------

    def _sender(self) -> MemoryObjectSendStream[Job[Any]]:
        if self._closing:
            raise PoolClosed("the pool is closed")
        if self._send is None:
            raise RuntimeError("enter the pool first")
        return self._send

    async def submit(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        send = self._sender()
        job: Job[T] = Job(self, fn, args)
        self._unfinished.add(job)
        try:
            await send.send(job)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            job._end("cancelled")
            raise PoolClosed("the pool closed while submit waited") from None
        except BaseException:
            job.cancel()
            raise
        return job

    def submit_nowait(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        send = self._sender()
        job: Job[T] = Job(self, fn, args)
        send.send_nowait(job)
        self._unfinished.add(job)
        return job

    # -- closing ----------------------------------------------------------------------

    def _shut(self, *, cancel: bool) -> None:
        self._closing = True
        if self._send is not None:
            self._send.close()
        self._cancelling = self._cancelling or cancel
        if self._cancelling:
            for job in list(self._unfinished):
                job.cancel()

    async def close(self, *, cancel: bool = False) -> None:
        self._shut(cancel=cancel)
        if self._idle is None or id(self) in _inside.get():
            await checkpoint()
            return
        await self._idle.wait()

    def _task_ended(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._idle is not None:
            self._idle.set()

    # -- dispatching ------------------------------------------------------------------

    async def _dispatch(self) -> None:
        assert self._recv is not None and self._slots is not None and self._tg is not None
        try:
            while True:
                await self._slots.acquire()
                try:
                    job = await self._recv.receive()
                except BaseException:  # EndOfStream, or the pool is torn down
                    self._slots.release()
                    raise
                if job._state != "queued" or self._cancelling:
                    job._end("cancelled")
                    self._slots.release()
                    continue
                job._state = "running"
                job._scope = anyio.CancelScope()  # so cancel() works before the task runs
                self._busy += 1
                self._tg.start_soon(self._run, job)
        except anyio.EndOfStream:
            pass
        finally:
            self._task_ended()

    async def _run(self, job: Job[Any]) -> None:
        assert self._slots is not None
        _inside.set(_inside.get() | {id(self)})
        scope = job._scope
        assert scope is not None
        try:
            with scope:
                if self._cancelling or job.done:
                    job._end("cancelled")
                    return
                value = await job._fn(*job._args)
                job._end("value", value)
            job._end("cancelled")
        except Exception as exc:
            job._end("error", exc)
        except anyio.get_cancelled_exc_class():
            job._end("cancelled")
            if anyio.current_effective_deadline() == -math.inf:
                raise
        except BaseException as exc:
            job._end("error", exc)
            raise
        finally:
            self._slots.release()
            self._task_ended()
