"""Driver ops for ``dedup_consumer`` part 3: one consumer process on a real Redis.

Runs in the child. One *life* of a consumer process: ``redis_start`` builds the kit's
``RedisStreamsBroker`` and ``RedisStore`` on a redis-py asyncio client, hands the
candidate's ``DedupConsumer`` recording proxies of them, and runs ``run(stop)`` in a
thread of this process (its own event loop, real time) while the requests keep being
answered; ``redis_wait`` returns when the life reaches its kill point or ``run``
ends; ``redis_stop`` sets ``stop`` and waits for ``run`` to return.

The kill point is the ``kill_at``-th *operation* of the life (a non-empty receive
returning, a handler starting, a commit about to send EXEC or just done, an ack,
nack or dead-letter about to be sent or just done). There the consumer's thread
freezes: its event loop blocks before the operation reaches Redis, so nothing more
of this process touches the world, and the grader SIGKILLs the process. Freezing
first and killing from the grading process makes the moment exact — the same
operation of the consumer every run — while the death is a real SIGKILL.

The handler is the grader's: it reads ``h:<id>`` (watching it), takes
``handler_s`` (per id), stages ``incr effect:<id>`` and raises ``PoisonMessage``
while the delivery's attempt is at most ``failures[id]`` (always when negative).
Effects are counted by the grader from Redis itself, never from this trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import anyio

from dskata.drivers._common import make_client

CLIENT_TIMEOUT_S = 5.0  # no faults here: a slow shared machine must not look like one


class PoisonMessage(Exception):
    """What the handler raises for a message it fails on."""


class RedisLife:
    """One consumer process's life: the proxies' shared state, the trace, the kill point."""

    def __init__(self, module: ModuleType, messaging: ModuleType, opts: dict[str, Any]) -> None:
        self.m, self.mg, self.o = module, messaging, opts
        self.kill_at: int | None = opts.get("kill_at")
        self.ops = 0
        self.events: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.frozen = threading.Event()
        self.finished = threading.Event()
        self.raised: str | None = None
        self.returned = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: anyio.Event | None = None
        self.holding: dict[str, list[int]] = {}  # id → attempts of the deliveries in hand
        self.thread = threading.Thread(target=self._thread, daemon=True)

    # -- the trace and the kill point -------------------------------------------

    def log(self, kind: str, **fields: Any) -> None:
        self.events.append({"k": kind, "t": round(time.monotonic() - self.t0, 4), **fields})

    def point(self, what: str, **fields: Any) -> None:
        """An operation of the consumer; at the kill point the whole process freezes here."""
        self.ops += 1
        if self.kill_at is not None and self.ops == self.kill_at:
            self.log("frozen", op=self.ops, at=what, **fields)
            self.frozen.set()
            threading.Event().wait()  # blocks this loop for good: the grader SIGKILLs us

    # -- the life ------------------------------------------------------------------

    def _thread(self) -> None:
        try:
            anyio.run(self._main, backend="asyncio")
        except BaseException as exc:  # run() raising is an answer: it goes in the trace
            self.raised = f"{type(exc).__name__}: {exc}"[:300]
            self.log("raised", error=self.raised)
        finally:
            self.finished.set()

    async def _main(self) -> None:
        o = self.o
        self.loop = asyncio.get_running_loop()
        self.stop = anyio.Event()
        client = make_client(o["url"], CLIENT_TIMEOUT_S, asyncio=True)
        broker = self.mg.RedisStreamsBroker(
            client,
            stream=o["stream"],
            group=o["group"],
            consumer=o["name"],
            visibility_timeout=o["visibility_timeout"],
        )
        store = self.mg.RedisStore(client, prefix=o["prefix"])
        consumer = self.m.DedupConsumer(
            BrokerProxy(self, broker),
            StoreProxy(self, store),
            make_handler(self),
            max_attempts=o["max_attempts"],
            concurrency=o["concurrency"],
            dedup_window=o["dedup_window"],
        )
        self.log("start")
        try:
            await consumer.run(self.stop)
            self.returned = True
            self.log("returned")
        finally:
            await client.aclose()

    def request_stop(self) -> None:
        loop, stop = self.loop, self.stop
        if loop is not None and stop is not None and not self.finished.is_set():
            self.log("stop")
            with contextlib.suppress(RuntimeError):  # the loop closed just now: run() ended
                loop.call_soon_threadsafe(stop.set)


class BrokerProxy:
    def __init__(self, life: RedisLife, real: Any) -> None:
        self.life, self.real = life, real

    async def receive(self, max_messages: int = 10, wait: float = 1.0) -> list[Any]:
        got = list(await self.real.receive(max_messages=max_messages, wait=wait))
        if got:
            for d in got:
                self.life.holding.setdefault(d.message.id, []).append(d.attempt)
            self.life.log("recv", d=[[d.message.id, d.attempt] for d in got])
            self.life.point("received", ids=[d.message.id for d in got])
        return got

    def _settled(self, d: Any) -> dict[str, Any]:
        held = self.life.holding.get(d.message.id, [])
        if d.attempt in held:
            held.remove(d.attempt)
        if not held:
            self.life.holding.pop(d.message.id, None)
        return {"id": d.message.id, "attempt": d.attempt}

    async def ack(self, delivery: Any) -> None:
        self.life.point("ack", id=delivery.message.id)
        await self.real.ack(delivery)
        self.life.log("ack", **self._settled(delivery))
        self.life.point("acked", id=delivery.message.id)

    async def nack(self, delivery: Any, delay: float = 0.0) -> None:
        self.life.point("nack", id=delivery.message.id)
        await self.real.nack(delivery, delay=delay)
        shown = float(delay) if isinstance(delay, int | float) else -1.0
        self.life.log("nack", delay=shown, **self._settled(delivery))
        self.life.point("nacked", id=delivery.message.id)

    async def dead_letter(self, delivery: Any, reason: str) -> None:
        self.life.point("dead_letter", id=delivery.message.id)
        await self.real.dead_letter(delivery, reason)
        self.life.log("dead", reason=str(reason)[:200], **self._settled(delivery))
        self.life.point("dead_lettered", id=delivery.message.id)


class StoreProxy:
    def __init__(self, life: RedisLife, real: Any) -> None:
        self.life, self.real = life, real

    def transaction(self) -> Any:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        async with self.real.transaction() as tx:
            yield tx
            self.life.point("commit")  # before EXEC: a kill here commits nothing
        self.life.log("commit")
        self.life.point("committed")


def make_handler(life: RedisLife) -> Callable[[Any, Any], Awaitable[None]]:
    failures: dict[str, int] = life.o.get("failures", {})
    durations: dict[str, float] = life.o.get("handler_s", {})
    default_s = float(life.o.get("default_handler_s", 0.05))

    async def handler(message: Any, tx: Any) -> None:
        ident = message.id
        # The failure schedule goes by the broker's attempt of the delivery in hand.
        attempt = max(life.holding.get(ident) or [1])
        life.point("handler", id=ident)
        life.log("handler", id=ident, attempt=attempt)
        await tx.get(f"h:{ident}")
        await anyio.sleep(float(durations.get(ident, default_s)))
        tx.incr(f"effect:{ident}")  # staged even when failing: a failure must discard it
        fails = int(failures.get(ident, 0))
        if fails < 0 or attempt <= fails:
            life.log("failed", id=ident, attempt=attempt)
            raise PoisonMessage(f"cannot handle {ident!r} (attempt {attempt})")

    return handler


class RedisOps:
    """Mixed into the exercise's ``Driver``: one consumer life per child process."""

    module: ModuleType
    _life: RedisLife | None = None

    def op_redis_start(self, **opts: Any) -> None:
        if self._life is not None:
            raise RuntimeError("one consumer life per process")
        messaging = importlib.import_module("messaging")
        self._life = RedisLife(self.module, messaging, opts)
        self._life.thread.start()

    def _report(self, state: str) -> dict[str, Any]:
        life = self._life
        assert life is not None
        return {
            "state": state,
            "ops": life.ops,
            "events": list(life.events),
            "raised": life.raised,
            "returned": life.returned,
        }

    def op_redis_wait(self, wait_s: float) -> dict[str, Any]:
        """Waits until the life freezes at its kill point or ``run`` ends (or ``wait_s``)."""
        life = self._life
        assert life is not None
        deadline = time.monotonic() + wait_s
        while True:
            if life.frozen.is_set():
                return self._report("frozen")
            if life.finished.is_set():
                return self._report("finished")
            if time.monotonic() >= deadline:
                return self._report("running")
            life.frozen.wait(0.02)

    def op_redis_stop(self, wait_s: float) -> dict[str, Any]:
        """Sets ``stop`` and waits up to ``wait_s`` for ``run`` to return."""
        life = self._life
        assert life is not None
        life.request_stop()
        life.finished.wait(wait_s)
        if life.frozen.is_set():
            return self._report("frozen")
        return self._report("finished" if life.finished.is_set() else "hung")
