"""A bounded worker pool on anyio. Edit this file; keep the names and signatures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio  # noqa: F401  (you will need it: task groups, events, memory object streams, …)

T = TypeVar("T")


class PoolClosed(RuntimeError):
    """submit() was called after the pool began closing."""


class JobCancelled(Exception):
    """The job was cancelled before it finished."""


class Job(Generic[T]):
    """One submitted call ``fn(*args)``: queued, then running, then done.

    A job ends exactly one way: with a value, with an exception, or cancelled.
    """

    @property
    def done(self) -> bool:
        """True once the job has ended (value, exception or cancelled)."""
        raise NotImplementedError

    async def result(self) -> T:
        """Wait until the job has ended, then return its value, re-raise its exception,
        or raise ``JobCancelled``."""
        raise NotImplementedError

    # [part 2]

    def cancel(self) -> None:
        """Queued: the job never starts. Running: the job is cancelled and its worker is
        free for the next job at once. Done: nothing happens. Either way ``result()``
        of a job that did not finish raises ``JobCancelled``."""
        raise NotImplementedError

    # [end part 2]


class WorkerPool:
    """Runs submitted jobs on ``workers`` workers, with room for ``queue_size`` more.

    - At most ``workers`` jobs run at the same time.
    - At most ``queue_size`` jobs are accepted but not started: ``submit`` waits while
      that many are waiting (with ``queue_size=0``, until a worker takes the job);
      ``submit_nowait`` raises ``anyio.WouldBlock`` instead of waiting.
    - Jobs start in the order they were submitted.
    - A job's exception reaches its ``Job`` and nothing else.
    - Leaving ``async with`` normally waits until every queued and running job has
      ended. Idle workers wait without polling.
    - Use anyio only (no asyncio-only API).

    Usage::

        async with WorkerPool(workers=4, queue_size=16) as pool:
            job = await pool.submit(fetch, url)
            ...
            body = await job.result()
    """

    def __init__(self, workers: int, queue_size: int) -> None:
        """Create a pool; it starts working when entered with ``async with``.

        Raises ValueError when ``workers < 1`` or ``queue_size < 0``.
        """
        raise NotImplementedError

    async def __aenter__(self) -> WorkerPool:
        raise NotImplementedError

    async def __aexit__(self, *exc_info: object) -> None:
        """Normal exit: stop accepting jobs and wait until every job has ended."""
        # [part 2]
        # Exit by an exception (also a cancellation of the enclosing scope, even while a
        # normal exit waits): as close(cancel=True), then let the same exception through.
        # No task started by the pool outlives the block.
        # [end part 2]
        raise NotImplementedError

    async def submit(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        """Queue ``fn(*args)``, waiting while the queue is full; return its Job.

        Raises PoolClosed once the pool has begun closing.
        """
        raise NotImplementedError

    def submit_nowait(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Job[T]:
        """Queue ``fn(*args)`` if that needs no waiting; else raise ``anyio.WouldBlock``.

        Raises PoolClosed once the pool has begun closing.
        """
        raise NotImplementedError

    # [part 2]

    async def close(self, *, cancel: bool = False) -> None:
        """Stop accepting jobs (``submit`` and ``submit_nowait`` raise PoolClosed, also
        for submitters that were waiting for room), then wait until every queued and
        running job has ended. With ``cancel=True``, running jobs are cancelled and
        queued jobs never start. May be called more than once.
        """
        raise NotImplementedError

    # [end part 2]
