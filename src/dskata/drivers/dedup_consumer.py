"""Driver for the ``dedup_consumer`` exercise: scenarios played in virtual time, told as a trace.

Runs in the child. A scenario is a list of messages and when each is published
(publishing one again is a duplicate, publishing in another order a reordering), how
often the handler fails for each message, which handler calls meet a ``Conflict``
(another writer changes a key the handler read while it runs), when the consumer
crashes, and when ``stop`` is set. The driver builds the kit's ``InMemoryBroker`` and
``InMemoryStore`` (both on anyio's clock, here virtual), hands the candidate's
``DedupConsumer`` recording proxies of them, and returns every event in order; the
grader's judge decides what is right, never this file.

A crash is a consumer that died at an instruction: its proxies go dead at that
moment (any later call it makes waits forever and reaches nothing), its task is
cancelled, and a fresh consumer starts on the same broker and store. Nothing it
does in ``finally`` blocks can touch the world — as after SIGKILL. Every broker and
store operation takes ``LATENCY_S`` of virtual time, so a crash can land between any
two of them, as a real process's death can.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import itertools
import tracemalloc
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import anyio

from dskata.drivers._virtual_time import VirtualTimeLoop
from dskata.drivers.dedup_consumer_redis import RedisOps

LATENCY_S = 0.05  # virtual seconds each broker/store operation takes
VISIBILITY_S = 30.0  # an unacked delivery comes back after this long
TAIL_S = 40.0  # how long the run goes on once every message is done (late duplicates, redeliveries)
QUIET_S = 120.0  # virtual seconds of nothing but idle receives that end a run early
HORIZON_S = 3000.0  # virtual seconds after which the run ends whatever happened
RETURN_WAIT_S = 60.0  # virtual seconds run() gets to return after stop


def setup(options: dict[str, Any]) -> None:
    """Nothing to prepare before the candidate's import."""


class PoisonMessage(Exception):
    """What the scenario's handler raises for a message it fails on."""


def run_virtual(main: Callable[[], Awaitable[Any]]) -> Any:
    return anyio.run(main, backend="asyncio", backend_options={"loop_factory": VirtualTimeLoop})


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class World:
    """The broker, the store and the trace one scenario plays against."""

    def __init__(self, messaging: ModuleType, spec: dict[str, Any]) -> None:
        self.mg = messaging
        self.spec = spec
        self.broker = messaging.InMemoryBroker(visibility_timeout=VISIBILITY_S)
        self.store = messaging.InMemoryStore()
        self.events: list[dict[str, Any]] = []
        self.tx_numbers = itertools.count(1)
        self.calls: dict[str, int] = {}
        self.done: set[str] = set()
        self.acks = 0

    def log(self, kind: str, c: int, **fields: Any) -> None:
        self.events.append({"k": kind, "t": round(anyio.current_time(), 6), "c": c, **fields})

    async def effects(self) -> dict[str, int]:
        """How many times each message's effects were committed: read from the store itself."""
        out: dict[str, int] = {}
        async with self.store.transaction() as tx:
            for m in self.spec["messages"]:
                raw = await tx.get(f"effect:{m['id']}")
                if raw is not None:
                    out[m["id"]] = int(raw)
        return out

    async def interfere(self, ident: str) -> None:
        """Another writer changes the key the handler read: the handler's commit must conflict."""
        await anyio.sleep(LATENCY_S)
        async with self.store.transaction() as tx:
            tx.incr(f"h:{ident}")


class Life:
    """One consumer instance's view of the world; once ``dead`` it reaches nothing."""

    def __init__(self, world: World, c: int) -> None:
        self.w = world
        self.c = c
        self.dead = False
        self.holding: dict[str, list[int]] = {}  # id → attempts of its deliveries in hand

    async def gate(self) -> None:
        """Every operation passes here: a dead consumer's call never returns."""
        if self.dead:
            await anyio.sleep_forever()

    async def slow(self) -> None:
        await self.gate()
        await anyio.sleep(LATENCY_S)
        await self.gate()


class BrokerProxy:
    def __init__(self, life: Life) -> None:
        self.life = life

    @property
    def real(self) -> Any:
        return self.life.w.broker

    async def receive(self, max_messages: int = 10, wait: float = 1.0) -> list[Any]:
        life = self.life
        await life.gate()
        life.w.log("recv_call", life.c)
        got = await self.real.receive(max_messages=max_messages, wait=wait)
        await life.gate()
        for d in got:
            life.holding.setdefault(d.message.id, []).append(d.attempt)
        if got:
            life.w.log("recv", life.c, d=[[d.receipt, d.message.id, d.attempt] for d in got])
        return list(got)

    def _fields(self, d: Any) -> dict[str, Any]:
        held = self.life.holding.get(d.message.id, [])
        if d.attempt in held:
            held.remove(d.attempt)
        return {"r": d.receipt, "id": d.message.id, "attempt": d.attempt}

    async def ack(self, delivery: Any) -> None:
        await self.life.slow()
        await self.real.ack(delivery)
        self.life.w.acks += 1
        self.life.w.log("ack", self.life.c, **self._fields(delivery))

    async def nack(self, delivery: Any, delay: float = 0.0) -> None:
        await self.life.slow()
        await self.real.nack(delivery, delay=delay)
        shown = float(delay) if isinstance(delay, int | float) else -1.0
        self.life.w.log("nack", self.life.c, delay=shown, **self._fields(delivery))

    async def dead_letter(self, delivery: Any, reason: str) -> None:
        await self.life.slow()
        await self.real.dead_letter(delivery, reason)
        self.life.w.done.add(delivery.message.id)
        self.life.w.log("dead", self.life.c, reason=str(reason)[:200], **self._fields(delivery))


class TxProxy:
    """The candidate's view of one transaction: writes are recorded as they are staged."""

    def __init__(self, real: Any, n: int) -> None:
        self.real = real
        self.n = n
        self.effects: list[str] = []
        self.writes: list[list[Any]] = []  # the consumer's own set()s: [key, ttl]
        self.in_handler = False

    async def get(self, key: str) -> str | None:
        value: str | None = await self.real.get(key)
        return value

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        self.real.set(key, value, ttl=ttl)
        if not self.in_handler:
            self.writes.append([str(key), None if ttl is None else float(ttl)])

    def incr(self, key: str, amount: int = 1) -> None:
        self.real.incr(key, amount)
        if self.in_handler and str(key).startswith("effect:"):
            self.effects.append(str(key).removeprefix("effect:"))

    def delete(self, key: str) -> None:
        self.real.delete(key)


class StoreProxy:
    def __init__(self, life: Life) -> None:
        self.life = life

    @asynccontextmanager
    async def transaction(self) -> Any:
        life, w = self.life, self.life.w
        await life.gate()
        n = next(w.tx_numbers)
        w.log("tx", life.c, tx=n)
        try:
            async with w.store.transaction() as real:
                tx = TxProxy(real, n)
                yield tx
                await life.slow()  # the commit's round trip: a crash here commits nothing
        except w.mg.Conflict:
            w.log("conflict", life.c, tx=n)
            raise
        except BaseException:
            if not life.dead:
                w.log("abort", life.c, tx=n)
            raise
        w.log("commit", life.c, tx=n, effects=tx.effects, writes=tx.writes)
        w.done.update(tx.effects)


def make_handler(life: Life) -> Callable[[Any, Any], Awaitable[None]]:
    w = life.w
    failures: dict[str, int] = w.spec.get("failures", {})
    conflicts: dict[str, int] = w.spec.get("conflicts", {})
    duration = float(w.spec.get("handler_s", 1.0))

    async def handler(message: Any, tx: Any) -> None:
        await life.gate()
        ident = message.id
        n = w.calls[ident] = w.calls.get(ident, 0) + 1
        # The failure schedule goes by the broker's attempt (the delivery in hand), so a
        # message that fails on its first k < max_attempts attempts always succeeds in the
        # end, however crashes and duplicates interleave.
        attempt = max(life.holding.get(ident) or [n])
        number = tx.n if isinstance(tx, TxProxy) else -1
        w.log("handler", life.c, tx=number, id=ident, phase="start")
        if isinstance(tx, TxProxy):
            tx.in_handler = True
        try:
            await tx.get(f"h:{ident}")
            if n <= conflicts.get(ident, 0):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(w.interfere, ident)
                    await anyio.sleep(duration)
            else:
                await anyio.sleep(duration)
            await life.gate()
            tx.incr(f"effect:{ident}")  # staged even when failing: a failure must discard it
            fails = failures.get(ident, 0)
            if fails < 0 or attempt <= fails:
                w.log("handler", life.c, tx=number, id=ident, phase="raised")
                raise PoisonMessage(f"cannot handle {ident!r} (attempt {attempt})")
        finally:
            if isinstance(tx, TxProxy):
                tx.in_handler = False
        w.log("handler", life.c, tx=number, id=ident, phase="ok")

    return handler


class Play:
    """One scenario: publisher, consumers, crashes, stop."""

    def __init__(self, module: ModuleType, messaging: ModuleType, spec: dict[str, Any]) -> None:
        self.m = module
        self.w = World(messaging, spec)
        self.spec = spec
        self.lives: list[Life] = []
        self.stop = anyio.Event()
        self.scopes: list[anyio.CancelScope] = []
        self.raised: str | None = None
        self.fatal: NotImplementedError | None = None

    def consumer(self, life: Life) -> Any:
        s = self.spec
        return self.m.DedupConsumer(
            BrokerProxy(life),
            StoreProxy(life),
            make_handler(life),
            max_attempts=s["max_attempts"],
            concurrency=s["concurrency"],
            dedup_window=s["dedup_window"],
        )

    async def life(self, tg: Any) -> None:
        life = Life(self.w, len(self.lives))
        self.lives.append(life)
        scope = anyio.CancelScope()
        self.scopes.append(scope)
        self.w.log("start", life.c)

        async def run() -> None:
            with scope:
                try:
                    await self.consumer(life).run(self.stop)
                except Exception as exc:
                    if isinstance(exc, NotImplementedError) and self.fatal is None:
                        self.fatal = exc  # the stub: the check is not attempted, not failed
                    if not life.dead and self.raised is None:
                        self.raised = f"{type(exc).__name__}: {exc}"[:300]
                        self.w.log("raised", life.c, error=self.raised)
                    return
                if not life.dead:
                    self.w.log("returned", life.c)

        tg.start_soon(run)

    async def publisher(self) -> None:
        msgs = self.spec["messages"]
        for at, index in sorted(self.spec["publish"], key=lambda p: p[0]):
            await anyio.sleep(max(0.0, at - anyio.current_time()))
            m = msgs[index]
            await _maybe(self.w.broker.publish(self.w.mg.Message(m["id"], dict(m["body"]))))

    async def main(self) -> dict[str, Any]:
        spec = self.spec
        ids = {m["id"] for m in spec["messages"]}
        last_publish = max((p[0] for p in spec["publish"]), default=0.0)
        crashes = sorted(spec.get("crashes", []))
        stop_at = spec.get("stop_at")
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.publisher)
            await self.life(tg)
            for at in crashes:
                await anyio.sleep(max(0.0, at - anyio.current_time()))
                victim = self.lives[-1]
                victim.dead = True
                self.scopes[-1].cancel()
                self.w.log("crash", victim.c)
                await self.life(tg)
            if stop_at is not None:
                await anyio.sleep(max(0.0, stop_at - anyio.current_time()))
                self.w.log("stop", self.lives[-1].c)
            else:
                done_at = None
                while anyio.current_time() < HORIZON_S:
                    await anyio.sleep(1.0)
                    if done_at is None and ids <= self.w.done:
                        done_at = max(anyio.current_time(), last_publish)
                    if done_at is not None and anyio.current_time() >= done_at + TAIL_S:
                        break
                    if self.raised is not None or self._quiet():
                        break
                self.w.log("end", self.lives[-1].c)
            self.stop.set()
            with anyio.move_on_after(RETURN_WAIT_S):
                while not all(
                    scope.cancel_called or self._returned(i) for i, scope in enumerate(self.scopes)
                ):
                    await anyio.sleep(0.1)
            for i, scope in enumerate(self.scopes):
                if not scope.cancel_called and not self._returned(i):
                    self.w.log("hung", i)
            tg.cancel_scope.cancel()
        return {"events": self.w.events, "effects": await self.w.effects(), "raised": self.raised}

    def _quiet(self) -> bool:
        """Nothing but idle receives for longer than any redelivery or nack delay can take:
        what has not happened by now never will (a lost message need not wait for the horizon)."""
        busy = [e for e in self.w.events if e["k"] != "recv_call"]
        if not busy:
            return False
        delays = [float(e["delay"]) for e in busy if e["k"] == "nack"]
        wait = max(QUIET_S, VISIBILITY_S + TAIL_S, max(delays, default=0.0) + TAIL_S)
        last = max(float(busy[-1]["t"]), max((p[0] for p in self.spec["publish"]), default=0.0))
        return anyio.current_time() - last > wait

    def _returned(self, c: int) -> bool:
        return any(e["k"] in ("returned", "raised") and e["c"] == c for e in self.w.events)


class Driver(RedisOps):  # part 3's Redis lives: dedup_consumer_redis.py
    def __init__(self, module: ModuleType) -> None:
        self.module = module
        # The candidate's own import of the kit module: the same Message/Conflict classes.
        self.messaging = importlib.import_module("messaging")
        self._play: Play | None = None

    @property
    def _fatal(self) -> NotImplementedError | None:
        return None if self._play is None else self._play.fatal

    def op_construct(self, **kwargs: Any) -> None:
        """``DedupConsumer(broker, store, handler, **kwargs)`` on fresh in-memory parts."""

        async def handler(message: Any, tx: Any) -> None:
            return None

        self.module.DedupConsumer(
            self.messaging.InMemoryBroker(), self.messaging.InMemoryStore(), handler, **kwargs
        )

    def op_scenario(self, scenario: dict[str, Any]) -> dict[str, Any]:
        play = Play(self.module, self.messaging, scenario)
        result: dict[str, Any] = run_virtual(play.main)
        if play.fatal is not None:
            raise play.fatal
        return result

    def op_sweep(self, scenario: dict[str, Any], crash_times: list[float]) -> list[dict[str, Any]]:
        """The scenario once per crash time (one crash each): every moment a consumer may die."""
        return [self.op_scenario({**scenario, "crashes": [t]}) for t in crash_times]

    def op_memory(self, first: int = 200, more: int = 1500, concurrency: int = 4) -> dict[str, Any]:
        """Bytes allocated by the candidate's own lines and still alive after ``first`` acked
        messages, and after ``more`` further ones (tracemalloc, filtered on its file)."""
        spec = {
            "messages": [],
            "publish": [],
            "max_attempts": 3,
            "concurrency": concurrency,
            "dedup_window": 30.0,
            "handler_s": 0.01,
        }
        own = tracemalloc.Filter(True, str(self.module.__file__))

        def held() -> int:
            gc.collect()
            snap = tracemalloc.take_snapshot().filter_traces([own])
            return sum(s.size for s in snap.statistics("filename"))

        async def main() -> dict[str, Any]:
            play = Play(self.module, self.messaging, spec)
            self._play = play
            w = play.w
            sizes: list[int] = []
            async with anyio.create_task_group() as tg:
                await play.life(tg)
                n = 0
                for batch in (first, more):
                    for _ in range(batch):
                        message = self.messaging.Message(f"m{n}", {"n": n})
                        await _maybe(w.broker.publish(message))
                        n += 1
                    with anyio.move_on_after(100_000):
                        while w.acks < n:
                            await anyio.sleep(1.0)
                    await anyio.sleep(TAIL_S)  # markers expire, idle polls settle
                    # Fresh broker and store, trace dropped: what the old ones held (the
                    # markers' keys the candidate's lines made) is no longer alive.
                    w.broker = self.messaging.InMemoryBroker(visibility_timeout=VISIBILITY_S)
                    w.store = self.messaging.InMemoryStore()
                    w.events.clear()
                    sizes.append(held())
                play.stop.set()
                with anyio.move_on_after(RETURN_WAIT_S):
                    while not play._returned(0):
                        await anyio.sleep(0.1)
                tg.cancel_scope.cancel()
            return {"acked": w.acks, "after_first": sizes[0], "after_more": sizes[1],
                    "raised": play.raised}  # fmt: skip

        tracemalloc.start(1)
        try:
            result: dict[str, Any] = run_virtual(main)
        finally:
            tracemalloc.stop()
        if self._fatal is not None:
            raise self._fatal
        return result
