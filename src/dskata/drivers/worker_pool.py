"""Driver for the ``worker_pool`` exercise: scenarios played in virtual time, told as a trace.

Runs in the child. A scenario is a pool, a list of jobs and a list of *actions* at
given virtual times (submit, submit_nowait, Job.cancel, close, waiting in
``Job.result()``, cancelling a task that waits in submit/result/close, raising inside
the block) plus, optionally, a deadline on the scope around the block. A director task
plays the actions inside ``async with pool``; submitters, closers and result waiters
run as tasks of their own beside the block, like independent producers and
consumers, each inside a cancel scope of its own that the director can cancel. Every
job records when it starts and how it ends; every call records when it was made and
how it answered (a Job, an exception, or the cancellation of its caller). The trace
goes back to the grader, which judges it: this file never decides what is right.

Virtual time: on asyncio ``VirtualTimeLoop``, on trio ``MockClock`` with autojump.
Both jump the clock only when every task waits, so the trace's time is exact and an
instant's end is a quiet moment. Trio's scheduling order within a batch is random
on purpose; its generator is seeded per scenario, so a replay sees the same order.

The idle check counts event-loop iterations in virtual time (a polling worker wakes
again and again while nothing happens) and measures real CPU time for real.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel

from dskata.drivers._schemas import (
    INT,
    NULL,
    NUMBER,
    STRING,
    Schema,
    array,
    mapping,
    nullable,
    one_of,
    record,
    tuple_of,
)
from dskata.drivers._virtual_time import VirtualTimeLoop

_KINDS = [
    "start", "end", "call", "pending", "refused", "accepted", "close", "close_pending",
    "close_raised", "closed", "cancel", "raise", "leave", "exit", "scope_caught",
    "tasks_left", "outcomes", "after", "outcome", "cancel_caller", "submit_cancelled",
    "close_cancelled", "wait", "waited", "wait_cancelled", "wait_pending", "job_done",
]  # fmt: skip
# One trace event: [virtual time, kind, job (or close) number, detail] (``Play.log``).
EVENT: Schema = tuple_of(NUMBER, {"enum": _KINDS}, {"type": "integer", "minimum": -1}, STRING)
REPLIES: dict[str, Schema] = {
    "construct": NULL,
    "scenario": record({"events": array(EVENT)}, {"never_quiet": STRING}),
    "before_enter": record({"submit_nowait": STRING, "submit": STRING, "submit took": NUMBER}),
    "inside": mapping(one_of(STRING, NUMBER)),
    "idle": record({"virtual_s": nullable(NUMBER), "iterations": INT, "cpu_s": NUMBER}),
    "throughput": NUMBER,
}

SETTLE_ROUNDS = 10_000  # asyncio: loop rounds before the pool counts as never quiet
RESULT_WAIT_S = 100_000.0  # virtual seconds a result() may take after the block has ended
IDLE_CAP = 20_000  # loop iterations before the idle check stops a busy pool


def setup(options: dict[str, Any]) -> None:
    """Nothing to prepare before the candidate's import."""


class NeverQuiet(Exception):
    """Some task never waited: the pool busy-loops."""


class BlockError(Exception):
    """What the director raises inside the block to leave it by an exception."""


class JobError(Exception):
    """What a failing job raises."""


class Value:
    """A job's result: an object of its own, so the grader can ask for this very one."""

    def __init__(self, job: int) -> None:
        self.job = job

    def __repr__(self) -> str:
        return f"<value of job {self.job}>"


async def settle() -> None:
    """Returns once every other task waits, without moving the virtual clock."""
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    import asyncio

    me = asyncio.current_task()
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)
        # A task that waits has a future it waits on; a runnable one has none.
        if all(
            t is me or (t._fut_waiter is not None and not t._fut_waiter.done())  # type: ignore[attr-defined]
            for t in asyncio.all_tasks()
        ):
            return
    raise NeverQuiet(f"some task still had work after {SETTLE_ROUNDS} loop rounds")


def run_virtual(main: Callable[[], Awaitable[Any]], backend: str, seed: int) -> Any:
    """Runs ``main`` in virtual time on ``backend``, starting at t=0."""
    if backend == "trio":
        import trio._core._run as trio_run
        from trio.testing import MockClock

        trio_run._r.seed(seed)  # the order trio runs a batch of woken tasks in
        return anyio.run(
            main, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)}
        )
    return anyio.run(main, backend="asyncio", backend_options={"loop_factory": VirtualTimeLoop})


def _name(exc: BaseException) -> str:
    return type(exc).__name__


class Scenario:
    """One scenario's play and its trace."""

    def __init__(self, module: ModuleType, spec: dict[str, Any]) -> None:
        self.m = module
        self.spec = spec
        self.events: list[list[Any]] = []
        self.jobs_of: dict[int, Any] = {}  # job index → the candidate's Job
        self.values: dict[int, Value | None] = {}
        self.errors: dict[int, BaseException] = {}
        self.fatal: BaseException | None = None  # NotImplementedError and the like
        self.t0 = 0.0
        self.pool: Any = None
        self.block_error: BlockError | None = None
        self.answered: list[anyio.Event] = []
        # A caller's own cancel scope, by ("submit", job) / ("result", waiter) / ("close", n),
        # and the callers still inside their call.
        self.scopes: dict[tuple[str, int], anyio.CancelScope] = {}
        self.waiting: set[tuple[str, int]] = set()
        self.waiter_job: dict[int, int] = {}

    def now(self) -> float:
        return round(anyio.current_time() - self.t0, 6)

    def log(self, kind: str, job: int = -1, detail: str = "") -> None:
        self.events.append([self.now(), kind, job, detail])

    def _note_fatal(self, exc: BaseException) -> None:
        if isinstance(exc, NotImplementedError | MemoryError) and self.fatal is None:
            self.fatal = exc

    # -- jobs ----------------------------------------------------------------

    def job_fn(self, i: int) -> Callable[..., Any]:
        spec = self.spec["jobs"][i]
        duration, end = float(spec["d"]), str(spec["end"])
        cancelled = anyio.get_cancelled_exc_class()

        if end == "not_async":

            def plain(*args: Any) -> Value:
                self.log("start", i)
                self.log("end", i, "returned a non-awaitable")
                return Value(i)

            return plain

        async def fn(*args: Any) -> Value | None:
            self.log("start", i)
            if end == "error_now":
                self.errors[i] = JobError(f"job {i} failed at once")
                self.log("end", i, "raised")
                raise self.errors[i]
            try:
                await anyio.sleep(duration)
            except cancelled:
                self.log("end", i, "cancelled")
                raise
            except BaseException as exc:
                self.log("end", i, f"interrupted by {_name(exc)}")
                raise
            if end == "error":
                self.errors[i] = JobError(f"job {i} failed")
                self.log("end", i, "raised")
                raise self.errors[i]
            if end == "group":
                self.errors[i] = ExceptionGroup(
                    f"job {i} failed twice", [JobError("a"), KeyError("b")]
                )
                self.log("end", i, "raised")
                raise self.errors[i]
            if end == "self_cancel":  # asyncio only: trio's Cancelled cannot be made by hand
                self.log("end", i, "cancelled itself")
                raise cancelled()
            value = None if end == "none" else Value(i)
            self.values[i] = value
            self.log("end", i, "returned")
            return value

        return fn

    # -- producers beside the block -----------------------------------------

    def caller(self, what: str, n: int) -> anyio.CancelScope:
        """The cancel scope a new caller of ``what`` runs in; it counts as waiting from now."""
        scope = self.scopes[(what, n)] = anyio.CancelScope()
        self.waiting.add((what, n))
        return scope

    async def submitter(self, i: int, answered: anyio.Event, scope: anyio.CancelScope) -> None:
        try:
            with scope:
                await self._submit(i, scope)
        finally:
            answered.set()

    async def _submit(self, i: int, scope: anyio.CancelScope) -> None:
        self.log("call", i, "submit")
        try:
            job = await self.pool.submit(self.job_fn(i), i)
        except anyio.get_cancelled_exc_class():
            # The director cancelled this caller, or the play is over and it still waited.
            self.log("submit_cancelled" if scope.cancel_called else "pending", i)
            raise
        except BaseException as exc:
            self._note_fatal(exc)
            self.log("refused", i, _name(exc))
            return
        finally:
            self.waiting.discard(("submit", i))
        self.jobs_of[i] = job
        self.log("accepted", i)

    def nowait(self, i: int) -> None:
        self.log("call", i, "submit_nowait")
        try:
            job = self.pool.submit_nowait(self.job_fn(i), i)
        except Exception as exc:
            self._note_fatal(exc)
            self.log("refused", i, _name(exc))
            return
        self.jobs_of[i] = job
        self.log("accepted", i)

    async def closer(self, n: int, cancel: bool, scope: anyio.CancelScope) -> None:
        self.log("close", n, "cancel" if cancel else "")
        with scope:
            try:
                await self.pool.close(cancel=cancel)
            except anyio.get_cancelled_exc_class():
                self.log("close_cancelled" if scope.cancel_called else "close_pending", n)
                raise
            except BaseException as exc:
                self._note_fatal(exc)
                self.log("close_raised", n, _name(exc))
                return
            finally:
                self.waiting.discard(("close", n))
            self.log("closed", n)

    async def waiter(self, i: int, n: int, job: Any, scope: anyio.CancelScope) -> None:
        """A task beside the block waiting in ``job.result()`` (waiter number ``n``)."""
        with scope:
            try:
                got: Any = await job.result()
            except anyio.get_cancelled_exc_class():
                self.log("wait_cancelled" if scope.cancel_called else "wait_pending", i, f"w{n}")
                raise
            except BaseException as exc:
                self._note_fatal(exc)
                got = exc
            finally:
                self.waiting.discard(("result", n))
            self.log("waited", i, f"w{n}|{self.describe(i, got, None)}")

    def cancel_caller(self, action: dict[str, Any]) -> bool:
        """Cancels the scope of a caller still inside submit/result/close; says whether it was."""
        of = str(action["of"])
        n = int(action[{"submit": "job", "result": "waiter", "close": "closer"}[of]])
        scope = self.scopes.get((of, n))
        if scope is None:
            return False  # that call was never made (its job was never accepted, say)
        job = self.waiter_job[n] if of == "result" else n
        detail = f"result|w{n}" if of == "result" else of
        if (of, n) not in self.waiting:
            self.log("cancel_caller", job, detail + "|answered")
            return False
        self.log("cancel_caller", job, detail)
        scope.cancel()
        return True

    def cancel(self, i: int) -> None:
        job = self.jobs_of.get(i)
        if job is None:
            return
        try:
            job.cancel()
            done = bool(job.done)
        except Exception as exc:
            self._note_fatal(exc)
            self.log("cancel", i, f"raised {_name(exc)}")
            return
        self.log("cancel", i, "done" if done else "not done")

    # -- the play --------------------------------------------------------------

    async def director(self, helpers: Any) -> None:
        closes = 0
        for action in self.spec["actions"]:
            await anyio.sleep_until(self.t0 + float(action["t"]))
            what = action["do"]
            if what == "submit":
                answered = anyio.Event()
                self.answered.append(answered)
                name = f"dskata submitter {action['job']}"
                scope = self.caller("submit", action["job"])
                helpers.start_soon(self.submitter, action["job"], answered, scope, name=name)
            elif what == "nowait":
                self.nowait(action["job"])
            elif what == "cancel":
                self.cancel(action["job"])
            elif what == "close":
                # "then_plain": a plain close() from another task in the same step, before
                # the pool's own tasks have run (cancel=True must stay in force).
                for cancel in (
                    bool(action["cancel"]),
                    *([False] if action.get("then_plain") else []),
                ):
                    closes += 1
                    scope = self.caller("close", closes)
                    helpers.start_soon(self.closer, closes, cancel, scope, name="dskata closer")
            elif what == "wait":
                i, n = action["job"], action["waiter"]
                job = self.jobs_of.get(i)
                if job is not None:  # else its submit has not returned a Job (yet)
                    self.waiter_job[n] = i
                    self.log("wait", i, f"w{n}")
                    scope = self.caller("result", n)
                    helpers.start_soon(self.waiter, i, n, job, scope, name=f"dskata waiter {n}")
            elif what == "cancel_caller":
                if self.cancel_caller(action) and action["of"] == "result":
                    # Once the cancelled waiter has left: did that touch the job it waited for?
                    await settle()
                    i = self.waiter_job[action["waiter"]]
                    self.log("job_done", i, "done" if self.done(i) else "not done")
            elif what == "raise":
                self.log("raise")
                self.block_error = BlockError("raised inside the block")
                raise self.block_error
            await settle()
        if self.spec.get("wait_for_submitters"):
            # A producer that submits everything, then leaves: nobody waits for room at exit.
            for answered in self.answered:
                await answered.wait()
        self.log("leave")

    async def play(self) -> None:
        self.t0 = anyio.current_time()
        try:
            self.pool = self.m.WorkerPool(self.spec["workers"], self.spec["queue_size"])
        except BaseException as exc:
            self._note_fatal(exc)
            raise
        before = {t.id for t in anyio.get_running_tasks()}
        outer_at = self.spec.get("outer_cancel_at")
        async with anyio.create_task_group() as helpers:
            # The horizon ends a block that would wait forever (a lost job, a dead worker):
            # the grader sees an exit at the horizon and says the block never ended.
            horizon = float(self.spec.get("horizon", math.inf))
            deadline = self.t0 + (horizon if outer_at is None else min(float(outer_at), horizon))
            with anyio.CancelScope(deadline=deadline) as outer:
                try:
                    async with self.pool:
                        await self.director(helpers)
                except BlockError as exc:
                    same = exc is self.block_error
                    self.log("exit", -1, "the same exception" if same else "another BlockError")
                except BaseExceptionGroup as group:
                    if group.subgroup(NeverQuiet) is not None:
                        raise
                    self.log("exit", -1, f"an exception group: {group!r}"[:300])
                except anyio.get_cancelled_exc_class():
                    self.log("exit", -1, "a cancellation")
                    raise
                except BaseException as exc:
                    if isinstance(exc, NeverQuiet):
                        raise
                    self._note_fatal(exc)
                    self.log("exit", -1, f"{_name(exc)}: {exc}"[:300])
                else:
                    self.log("exit", -1, "normally")
            if outer.cancelled_caught:
                self.log("scope_caught")
            leaked = [
                t.name or "?"
                for t in anyio.get_running_tasks()
                if t.id not in before and not (t.name or "").startswith("dskata")
            ]
            self.log("tasks_left", -1, "; ".join(leaked[:5]) if leaked else "")
            done = {i: self.done(i) for i in sorted(self.jobs_of)}
            self.log("outcomes")
            for i in sorted(self.jobs_of):
                await self.collect(i, done[i])
            await settle()
            self.log("after")  # what the producers still wait for now is stuck for good
            helpers.cancel_scope.cancel()

    def done(self, i: int) -> bool:
        try:
            return bool(self.jobs_of[i].done)
        except Exception as exc:
            self._note_fatal(exc)
            return False

    async def collect(self, i: int, done: bool) -> None:
        job = self.jobs_of[i]
        seen: list[str] = []
        first: Any = None
        for attempt in range(2):
            with anyio.move_on_after(RESULT_WAIT_S):
                try:
                    got: Any = await job.result()
                except BaseException as exc:
                    if isinstance(exc, anyio.get_cancelled_exc_class()):
                        raise
                    self._note_fatal(exc)
                    got = exc
                seen.append(self.describe(i, got, first if attempt else None))
                first = got
                continue
            seen.append("never returned")
            break
        self.log("outcome", i, f"{'done' if done else 'not done'}|" + "|".join(seen))

    def describe(self, i: int, got: Any, first: Any) -> str:
        same = "" if first is None else (" (same object)" if got is first else " (another object)")
        if isinstance(got, BaseException):
            if isinstance(got, self.m.JobCancelled):
                return "JobCancelled"
            if i in self.errors and got is self.errors[i]:
                return "its exception" + same
            return f"raised {_name(got)}: {str(got)[:80]}" + same
        if i in self.values and got is self.values[i]:
            return "its value"
        return f"returned {got!r}"[:120]

    def run(self, backend: str, seed: int) -> dict[str, Any]:
        run_virtual(self.play, backend, seed)
        if self.fatal is not None:
            raise self.fatal
        return {"events": self.events}


class Driver:
    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def op_construct(self, workers: Any, queue_size: Any) -> None:
        self.module.WorkerPool(workers, queue_size)

    def op_scenario(self, scenario: dict[str, Any], backend: str = "asyncio", seed: int = 0) -> Any:
        play = Scenario(self.module, scenario)
        try:
            return play.run(backend, seed)
        except NeverQuiet as exc:
            return {"events": play.events, "never_quiet": str(exc)}
        except BaseExceptionGroup as group:
            quiet = group.subgroup(NeverQuiet)
            if quiet is None:
                raise
            return {"events": play.events, "never_quiet": str(quiet.exceptions[0])}

    def op_before_enter(self, backend: str = "asyncio", seed: int = 0) -> dict[str, Any]:
        """``submit_nowait`` and ``submit`` on a pool that was made but never entered:
        how each answered, and how long ``submit`` took (virtual seconds)."""
        m = self.module
        facts: dict[str, Any] = {}

        async def fn() -> str:
            return "value"

        def answer(exc: BaseException) -> str:
            if isinstance(exc, NotImplementedError | MemoryError):
                raise exc  # not attempted (or out of memory): not an answer
            return f"raised {_name(exc)}"

        async def main() -> None:
            pool = m.WorkerPool(2, 2)
            try:
                pool.submit_nowait(fn)
            except Exception as exc:
                facts["submit_nowait"] = answer(exc)
            else:
                facts["submit_nowait"] = "returned a Job"
            t0 = anyio.current_time()
            facts["submit"] = f"still waited after {RESULT_WAIT_S:g} s"
            with anyio.move_on_after(RESULT_WAIT_S):
                try:
                    await pool.submit(fn)
                except Exception as exc:
                    facts["submit"] = answer(exc)
                else:
                    facts["submit"] = "returned a Job"
            facts["submit took"] = round(anyio.current_time() - t0, 6)

        run_virtual(main, backend, seed)
        return facts

    def op_inside(self, backend: str = "asyncio", seed: int = 0) -> dict[str, Any]:
        """Jobs that use their own pool: a follow-up submit while the pool is open and
        while a normal exit closes it, and ``close()`` called from inside a job; then
        submit_nowait, submit and close() after a block has ended."""
        m = self.module
        facts: dict[str, Any] = {}

        def outcome(exc: BaseException) -> str:
            return "PoolClosed" if isinstance(exc, m.PoolClosed) else f"raised {_name(exc)}"

        async def child() -> str:
            await anyio.sleep(1)
            return "child value"

        async def follow_up() -> None:
            async with m.WorkerPool(2, 1) as pool:
                t0 = anyio.current_time()

                async def parent() -> Any:
                    job = await pool.submit(child)
                    return await job.result()

                job = await pool.submit(parent)
                with anyio.move_on_after(100):
                    facts["open: parent's result"] = repr(await job.result())
                facts["open: parent done at"] = round(anyio.current_time() - t0, 6)

                async def late() -> str:
                    await anyio.sleep(2)
                    try:
                        await pool.submit(child)
                    except Exception as exc:
                        return outcome(exc)
                    return "accepted"

                facts["late"] = await pool.submit(late)
                t1 = anyio.current_time()
            facts["exiting: block ended after"] = round(anyio.current_time() - t1, 6)
            with anyio.move_on_after(100):
                facts["exiting: follow-up submit"] = repr(await facts.pop("late").result())

        async def close_inside() -> None:
            async with m.WorkerPool(2, 2) as pool:
                t0 = anyio.current_time()

                async def closer() -> str:
                    await pool.close()
                    facts["close inside: returned after"] = round(anyio.current_time() - t0, 6)
                    try:
                        pool.submit_nowait(child)
                    except Exception as exc:
                        facts["close inside: then submit_nowait"] = outcome(exc)
                    else:
                        facts["close inside: then submit_nowait"] = "accepted"
                    await anyio.sleep(1)
                    return "closer value"

                job = await pool.submit(closer)
                with anyio.move_on_after(100):
                    facts["close inside: job's result"] = repr(await job.result())
            facts["close inside: block ended after"] = round(anyio.current_time() - t0, 6)

        async def after_exit() -> None:
            async with m.WorkerPool(2, 2) as pool:
                await pool.submit(child)
            t0 = anyio.current_time()
            try:
                pool.submit_nowait(child)
            except Exception as exc:
                facts["after the block: submit_nowait"] = outcome(exc)
            else:
                facts["after the block: submit_nowait"] = "accepted"
            with anyio.move_on_after(100):
                try:
                    await pool.submit(child)
                except Exception as exc:
                    facts["after the block: submit"] = outcome(exc)
                else:
                    facts["after the block: submit"] = "accepted"
            with anyio.move_on_after(100):
                await pool.close()
                facts["after the block: close() returned after"] = round(
                    anyio.current_time() - t0, 6
                )

        async def main() -> None:
            with anyio.move_on_after(1000):
                await follow_up()
            with anyio.move_on_after(1000):
                await close_inside()
            with anyio.move_on_after(1000):
                await after_exit()

        run_virtual(main, backend, seed)
        return facts

    def op_idle(
        self, workers: int = 4, queue_size: int = 4, idle_s: float = 100.0
    ) -> dict[str, Any]:
        """Loop iterations while an entered, warmed-up pool idles ``idle_s`` virtual
        seconds (asyncio), and real CPU seconds while it idles 0.3 real seconds."""
        import asyncio

        counts = {"iterations": 0, "counting": False, "stopped": False}

        class TooBusy(Exception):
            pass

        def counting(original: Callable[[], None]) -> None:
            if counts["counting"]:
                counts["iterations"] += 1
                if counts["iterations"] > IDLE_CAP and not counts["stopped"]:
                    counts["stopped"] = True
                    raise TooBusy
            original()

        def factory() -> asyncio.AbstractEventLoop:
            loop = VirtualTimeLoop()
            loop._run_once = functools.partial(counting, loop._run_once)  # type: ignore[attr-defined]
            return loop

        async def warm(pool: Any) -> None:
            job = await pool.submit(anyio.sleep, 1)
            await job.result()
            await anyio.sleep(1)

        async def virtual() -> float:
            async with self.module.WorkerPool(workers, queue_size) as pool:
                await warm(pool)
                start = anyio.current_time()
                counts["counting"] = True
                await anyio.sleep(idle_s)
                counts["counting"] = False
                return anyio.current_time() - start

        result: dict[str, Any] = {}
        try:
            result["virtual_s"] = anyio.run(
                virtual, backend="asyncio", backend_options={"loop_factory": factory}
            )
        except TooBusy:
            result["virtual_s"] = None
        result["iterations"] = counts["iterations"]

        async def real() -> float:
            async with self.module.WorkerPool(workers, queue_size) as pool:
                await warm(pool)
                cpu = time.process_time()
                await anyio.sleep(0.3)
                return time.process_time() - cpu

        result["cpu_s"] = anyio.run(real, backend="asyncio")
        return result

    def op_throughput(self, jobs: int = 3000, backend: str = "asyncio") -> float:
        """Jobs per real second through ``WorkerPool(8, 16)``; half return at once,
        half yield once."""

        async def nop() -> int:
            return 1

        async def yielding() -> int:
            await anyio.lowlevel.checkpoint()
            return 1

        async def main() -> float:
            start = time.perf_counter()
            async with self.module.WorkerPool(8, 16) as pool:
                for i in range(jobs):
                    await pool.submit(yielding if i % 2 else nop)
            return time.perf_counter() - start

        elapsed: float = anyio.run(main, backend=backend)
        return jobs / elapsed
