"""Driver for the ``idempotency`` exercise: ``execute`` calls the grader steers.

Runs in the child. Every ``execute`` the grader asks for becomes an asyncio task on
one event loop, with an operation the grader controls: the operation records that
it was invoked and then waits until the grader finishes it, fails it, or cancels
the caller. After each step the loop runs until the calls concerned can be
observed — their operation invoked, or ``execute`` answered — so the grader sees
an interleaving it chose, not one the scheduler happened to pick.

Part 1 runs on a manual clock and settles by loop rounds (no real time passes);
part 2 runs against real Redis and settles by real time, up to a deadline. A call
that neither invokes its operation nor answers is reported ``pending``: ``execute``
waited where the contract says it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from dskata.drivers._common import ManualClock, make_client, rss
from dskata.drivers._schemas import (
    ANY,
    BOOL,
    INT,
    NULL,
    NUMBER,
    RAISED,
    STRING,
    Schema,
    array,
    mapping,
    record,
)
from dskata.sandbox.shim import describe_exception

# What one steered call looks like after a step (``Driver._event``).
EVENT: Schema = {
    "allOf": [
        record(
            {
                "ran": INT,
                "state": {"enum": ["running", "pending", "cancelled", "raised", "returned"]},
            },
            {
                "raised": RAISED,
                "same": BOOL,
                "retry_after": NUMBER,
                "value": ANY,
                "bad_value": STRING,
            },
        ),
        {
            "if": {"properties": {"state": {"const": "raised"}}},
            "then": {"required": ["raised", "same"]},
        },
        {
            "if": {"properties": {"state": {"const": "returned"}}},
            "then": {"oneOf": [{"required": ["value"]}, {"required": ["bad_value"]}]},
        },
    ]
}
REPLIES: dict[str, Schema] = {
    "construct": NULL,
    "new": INT,
    "redis_construct": NULL,
    "redis_new": INT,
    "advance": NUMBER,
    "start": mapping(EVENT),
    "finish": EVENT,
    "fail": EVENT,
    "cancel": EVENT,
    "mutate": NULL,
    "race": mapping(EVENT),
    "memory": record({"growth": array(INT)}),
    "throughput": record({"calls": INT, "seconds": NUMBER}),
}

SETTLE_ROUNDS = 200  # loop rounds before a fake-time call counts as blocked
QUIET_ROUNDS = 20  # extra rounds after a step, so other tasks it woke run too


class OperationFailed(Exception):
    """What a failing operation raises; the candidate must re-raise this very object."""


@dataclass
class Call:
    layer: Any
    task: asyncio.Task[Any] | None = None
    ran: int = 0
    waiting: list[asyncio.Future[Any]] = field(default_factory=list)
    injected: BaseException | None = None
    returned: Any = None
    hold_s: float | None = None  # races: the operation sleeps this long, then answers itself
    value: Any = None


def encode_value(value: Any) -> dict[str, Any]:
    """``{"value": v}`` when ``v`` is JSON data, else a description of what came back."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return {"bad_value": f"{type(value).__name__}: {value!r}"[:300]}
    return {"value": value}


def deface(value: Any) -> None:
    """Changes a returned JSON value in place, innermost first (a caller reusing it)."""
    if isinstance(value, dict):
        for inner in value.values():
            deface(inner)
        value["mutated by a caller"] = True
    elif isinstance(value, list):
        for inner in value:
            deface(inner)
        value.append("mutated by a caller")


def _given(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments the grader passed (validation checks leave the rest default)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def setup(options: dict[str, Any]) -> None:
    """Nothing to prepare before the candidate's import."""


class Driver:
    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.loop = asyncio.new_event_loop()
        self.layers: dict[int, Any] = {}
        self.clocks: dict[int, ManualClock] = {}
        self.calls: dict[str, Call] = {}
        # Call ids restart with each grader session; tasks of finished sessions stay
        # referenced here, since asyncio itself only keeps weak references to tasks.
        self.every_call: list[Call] = []

    def _add(self, layer: Any) -> int:
        handle = len(self.layers) + 1
        self.layers[handle] = layer
        return handle

    # -- layers ------------------------------------------------------------

    def op_construct(self, ttl: Any = None, lease: Any = None) -> None:
        self.module.IdempotencyLayer(clock=ManualClock(0.0), **_given(ttl=ttl, lease=lease))

    def op_new(self, ttl: float, lease: float, start: float = 1000.0) -> int:
        clock = ManualClock(start)
        handle = self._add(self.module.IdempotencyLayer(ttl=ttl, lease=lease, clock=clock))
        self.clocks[handle] = clock
        return handle

    def op_redis_construct(self, url: str, ttl: Any = None, lease: Any = None) -> None:
        async def build() -> None:
            client = make_client(url, asyncio=True)
            self.module.RedisIdempotencyLayer(client, **_given(ttl=ttl, lease=lease))

        self.loop.run_until_complete(build())

    def op_redis_new(self, url: str, ttl: float, lease: float, prefix: str) -> int:
        async def build() -> Any:  # redis.asyncio clients belong to the loop they are made on
            client = make_client(url, asyncio=True)
            return self.module.RedisIdempotencyLayer(client, ttl=ttl, lease=lease, prefix=prefix)

        return self._add(self.loop.run_until_complete(build()))

    def op_advance(self, handle: int, seconds: float) -> float:
        clock = self.clocks[handle]
        clock.now += seconds
        return clock.now

    # -- steered calls -----------------------------------------------------

    def _operation(self, call: Call) -> Callable[[], Any]:
        async def operation() -> Any:
            call.ran += 1
            if call.hold_s is not None:
                await asyncio.sleep(call.hold_s)
                return call.value
            future = self.loop.create_future()
            call.waiting.append(future)
            return await future

        return operation

    def _event(self, call_id: str) -> dict[str, Any]:
        call = self.calls[call_id]
        task = call.task
        assert task is not None
        event: dict[str, Any] = {"ran": call.ran}
        if not task.done():
            waiting = any(not f.done() for f in call.waiting)
            event["state"] = "running" if waiting else "pending"
        elif task.cancelled():
            event["state"] = "cancelled"
        elif task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            event["state"] = "raised"
            event["raised"] = describe_exception(exc)
            event["same"] = call.injected is not None and exc is call.injected
            retry_after = getattr(exc, "retry_after", None)
            if isinstance(retry_after, (int, float)) and not isinstance(retry_after, bool):
                event["retry_after"] = float(retry_after)
        else:
            call.returned = task.result()
            event["state"] = "returned"
            event.update(encode_value(call.returned))
        return event

    def _observable(self, call_id: str) -> bool:
        call = self.calls[call_id]
        assert call.task is not None
        return call.task.done() or any(not f.done() for f in call.waiting)

    def _settle(self, ids: list[str], timeout: float | None) -> dict[str, Any]:
        async def rounds() -> None:
            if timeout is None:  # fake time: only loop rounds, no real waiting
                for _ in range(SETTLE_ROUNDS):
                    await asyncio.sleep(0)
                    if all(self._observable(i) for i in ids):
                        break
                for _ in range(QUIET_ROUNDS):
                    await asyncio.sleep(0)
                return
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not all(self._observable(i) for i in ids):
                await asyncio.sleep(0.001)

        self.loop.run_until_complete(rounds())
        return {i: self._event(i) for i in ids}

    def op_start(
        self, handle: int, calls: list[list[Any]], timeout: float | None = None
    ) -> dict[str, Any]:
        """Starts ``[call_id, key, fingerprint]`` calls together; returns their events."""
        layer = self.layers[handle]
        ids = [self._launch(Call(layer), call_id, key, fp) for call_id, key, fp in calls]
        return self._settle(ids, timeout)

    def _launch(self, call: Call, call_id: str, key: Any, fingerprint: Any) -> str:
        """Starts ``execute`` for ``call`` as a task on the driver's loop; returns its id."""
        self.calls[call_id] = call
        self.every_call.append(call)
        call.task = self.loop.create_task(
            call.layer.execute(key, fingerprint, self._operation(call))
        )
        return call_id

    def _resolve(self, call_id: str, timeout: float | None, how: Callable[[Call], None]) -> Any:
        call = self.calls[call_id]
        how(call)
        return self._settle([call_id], timeout)[call_id]

    def op_finish(self, call_id: str, value: Any, timeout: float | None = None) -> Any:
        def finish(call: Call) -> None:
            for future in call.waiting:
                if not future.done():
                    future.set_result(value)

        return self._resolve(call_id, timeout, finish)

    def op_fail(self, call_id: str, message: str, timeout: float | None = None) -> Any:
        def fail(call: Call) -> None:
            call.injected = OperationFailed(message)
            for future in call.waiting:
                if not future.done():
                    future.set_exception(call.injected)

        return self._resolve(call_id, timeout, fail)

    def op_cancel(self, call_id: str, timeout: float | None = None) -> Any:
        def cancel(call: Call) -> None:
            assert call.task is not None
            call.task.cancel()

        return self._resolve(call_id, timeout, cancel)

    def op_mutate(self, call_id: str) -> None:
        """Mutates in place what ``execute`` returned to this call (and all inside it)."""
        deface(self.calls[call_id].returned)

    # -- batches: races, memory, speed ----------------------------------------

    def op_race(
        self, handle: int, calls: list[list[Any]], start_at: float, timeout: float
    ) -> dict[str, Any]:
        """At wall time ``start_at``, starts ``[call_id, key, fp, hold_s]`` calls at once;
        each operation sleeps ``hold_s`` and returns ``{"by": call_id}``. Waits for all."""
        layer = self.layers[handle]
        time.sleep(max(0.0, start_at - time.time()))
        ids = [
            self._launch(Call(layer, hold_s=float(hold_s), value={"by": call_id}), call_id, key, fp)
            for call_id, key, fp, hold_s in calls
        ]

        async def wait() -> None:
            tasks = [self.calls[i].task for i in ids]
            await asyncio.wait([t for t in tasks if t is not None], timeout=timeout)

        self.loop.run_until_complete(wait())
        return {i: self._event(i) for i in ids}

    def op_memory(
        self, keys: int, ttl: float, lease: float, step: float, fail_every: int
    ) -> dict[str, Any]:
        """Completes one call per new key, one every ``step`` s (every ``fail_every``-th
        fails instead); returns resident-memory growth in bytes at four checkpoints."""
        clock = ManualClock(0.0)
        layer = self.module.IdempotencyLayer(ttl=ttl, lease=lease, clock=clock)

        async def succeed() -> Any:
            return {"ok": True}

        async def fail() -> Any:
            raise OperationFailed(
                "planned failure"
            )  # a new one: a re-raised object keeps its traceback

        async def run() -> list[int]:
            base = rss()
            checkpoints = []
            for i in range(keys):
                clock.now = i * step
                failing = fail_every and i % fail_every == 0
                with contextlib.suppress(OperationFailed):
                    await layer.execute(f"key-{i}", "fp", fail if failing else succeed)
                if (i + 1) % (keys // 4) == 0:
                    checkpoints.append(rss() - base)
            return checkpoints

        return {"growth": self.loop.run_until_complete(run())}

    def op_throughput(
        self, keys: int, calls: int, tick: float, max_seconds: float
    ) -> dict[str, Any]:
        """Round-robin over ``keys`` keys (first round runs, later ones replay)."""
        clock = ManualClock(0.0)
        layer = self.module.IdempotencyLayer(ttl=86400.0, lease=30.0, clock=clock)
        names = [f"key-{i}" for i in range(keys)]

        async def operation() -> Any:
            return {"status": 201, "items": [1, 2, 3]}

        async def run() -> dict[str, Any]:
            done = 0
            started = time.perf_counter()
            deadline = started + max_seconds
            while done < calls:
                for _ in range(50 if done < keys else 200):
                    clock.now += tick
                    await layer.execute(names[done % keys], "fp", operation)
                    done += 1
                if time.perf_counter() > deadline:
                    break
            return {"calls": done, "seconds": time.perf_counter() - started}

        return self.loop.run_until_complete(run())
