"""Judges a dedup-consumer trace against the contract, rule by rule, and tells it in words.

The driver (``dskata.drivers.dedup_consumer``) plays a scenario in virtual time: it
publishes messages (duplicates included) to the kit's in-memory broker, runs the
candidate's consumer against recording proxies of the broker and the store, crashes
the consumer at chosen moments (a crashed consumer can no longer touch the broker or
the store — it died at that instruction) and starts a fresh one, sets ``stop``, and
returns every event in the order it happened. The final store state (how many times
each message's effects were committed) is read by the driver directly from the
store, not through the proxy.

Events are dicts with ``k`` (kind), ``t`` (virtual time) and ``c`` (which consumer
instance: 0, then 1 after the first crash, …)::

    start / crash / returned / hung          a consumer's life
    stop                                     the stop event was set
    recv_call                                receive() was called
    recv      d=[[receipt, id, attempt], …]  receive() returned these deliveries
    ack       r, id, attempt
    nack      r, id, attempt, delay
    dead      r, id, attempt, reason
    tx        tx                             a transaction was opened
    handler   tx, id, phase ("start" | "ok" | "raised")
    commit    tx, effects=[ids], writes=[[key, ttl], …]   (writes: the consumer's own set()s)
    conflict  tx                             the commit raised Conflict
    abort     tx                             the block was left by an exception

The judge knows nothing of how a consumer is built; it only knows what the contract
promises. Every broken rule becomes a ``Violation`` tagged with the check owning it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

# Tags: which check owns a broken rule.
ONCE, ACK, DUP, STOP, FAILED, DEAD, CONFLICT, BOUND, TTL = (
    "once",
    "ack",
    "dup",
    "stop",
    "failed",
    "dead",
    "conflict",
    "bound",
    "ttl",
)
PART1_TAGS = frozenset({ONCE, ACK, DUP, STOP, TTL})
ALL_TAGS = PART1_TAGS | {FAILED, DEAD, CONFLICT, BOUND}
SOON_S = 3.0  # virtual seconds after stop (beyond a handler in progress) within which run returns

Event = dict[str, Any]


@dataclass(frozen=True)
class Violation:
    tag: str
    index: int  # the event that broke the rule (len(events) for "at the end")
    time: float
    text: str


@dataclass
class Scenario:
    """What the judge needs to know of the scenario the driver played."""

    max_attempts: int
    concurrency: int
    dedup_window: float
    ids: list[str]
    poison: set[str] = field(default_factory=set)  # the handler always raises for these
    exception: str = "PoisonMessage"  # the handler's exception type name
    handler_s: float = 1.0
    stop_at: float | None = None

    @classmethod
    def of(cls, spec: dict[str, Any]) -> Scenario:
        return cls(
            max_attempts=int(spec["max_attempts"]),
            concurrency=int(spec["concurrency"]),
            dedup_window=float(spec["dedup_window"]),
            ids=[m["id"] for m in spec["messages"]],
            poison={i for i, n in spec.get("failures", {}).items() if n < 0},
            handler_s=float(spec.get("handler_s", 1.0)),
            stop_at=spec.get("stop_at"),
        )


def _dl(r: str, ident: str, attempt: int) -> str:
    return f"delivery {r} of {ident!r} (attempt {attempt})"


class Judge:
    """Reads one trace; ``violations`` lists every broken rule in the order met."""

    def __init__(self, scenario: Scenario, events: list[Event], effects: dict[str, int]) -> None:
        self.s = scenario
        self.events = events
        self.effects = effects
        self.violations: list[Violation] = []
        self.first_commit: dict[str, int] = {}
        self.first_dead: dict[str, int] = {}
        self.crashed: dict[int, int] = {}  # consumer → index of its crash
        self.stop_index: int | None = None
        self._index()
        for rule in (
            self._once,
            self._ack,
            self._dup,
            self._failed,
            self._dead,
            self._conflict,
            self._bound,
            self._ttl,
            self._stop,
        ):
            rule()
        self.violations.sort(key=lambda v: v.index)

    def of(self, tags: frozenset[str]) -> list[Violation]:
        return [v for v in self.violations if v.tag in tags]

    # -- helpers -------------------------------------------------------------

    def _index(self) -> None:
        self.tx_handler: dict[int, list[tuple[str, str]]] = defaultdict(list)  # tx → (id, phase)
        self.tx_open: dict[int, int] = {}
        for i, e in enumerate(self.events):
            k = e["k"]
            if k == "commit":
                for ident in e["effects"]:
                    self.first_commit.setdefault(ident, i)
            elif k == "dead":
                self.first_dead.setdefault(e["id"], i)
            elif k == "crash":
                self.crashed[e["c"]] = i
            elif k == "stop" and self.stop_index is None:
                self.stop_index = i
            elif k == "tx":
                self.tx_open[e["tx"]] = i
            elif k == "handler":
                self.tx_handler[e["tx"]].append((e["id"], e["phase"]))

    def _bad(self, tag: str, index: int, text: str) -> None:
        t = self.events[index]["t"] if index < len(self.events) else self._end_t()
        self.violations.append(Violation(tag, index, float(t), text))

    def _end_t(self) -> float:
        return float(self.events[-1]["t"]) if self.events else 0.0

    def _complete(self) -> bool:
        """The run went on until everything settled: no stop, so every message's fate is due."""
        return self.s.stop_at is None

    def _raised(self, ident: str) -> bool:
        return any(
            e["k"] == "handler" and e["id"] == ident and e["phase"] == "raised" for e in self.events
        )

    def _succeeded(self, ident: str) -> bool:
        return any(
            e["k"] == "handler" and e["id"] == ident and e["phase"] == "ok" for e in self.events
        )

    def _dead_lettered(self, ident: str) -> bool:
        return any(e["k"] == "dead" and e["id"] == ident for e in self.events)

    # -- rules ---------------------------------------------------------------

    def _once(self) -> None:
        """Rule 1: effects committed exactly once per id if the handler ever succeeded."""
        end = len(self.events)
        for ident in self.s.ids:
            n = self.effects.get(ident, 0)
            if n > 1:
                self._bad(ONCE, end, f"the effects of {ident!r} were committed {n} times")
            elif n == 0 and self._succeeded(ident) and not self._dead_lettered(ident):
                self._bad(
                    ONCE,
                    end,
                    f"the handler succeeded for {ident!r}, but its effects were never committed",
                )
            elif (
                n == 0
                and self._complete()
                and ident not in self.s.poison
                and not self._dead_lettered(ident)
            ):
                self._bad(
                    ONCE, end, f"{ident!r} was never processed (nor dead-lettered): it was lost"
                )

    def _ack(self) -> None:
        """Rule 2: an ack only after the id's effects committed."""
        for i, e in enumerate(self.events):
            if e["k"] != "ack":
                continue
            first = min(self.first_commit.get(e["id"], i + 1), self.first_dead.get(e["id"], i + 1))
            if first > i:  # a duplicate of a dead-lettered message is known too
                self._bad(
                    ACK,
                    i,
                    f"{_dl(e['r'], e['id'], e['attempt'])} was acked before its effects were committed",
                )

    def _dup(self) -> None:
        """Rule 3: a delivery of an already-committed id is acked, without the handler."""
        received: dict[str, tuple[int, int]] = {}  # receipt → (index received, consumer)
        settled: set[str] = set()
        for i, e in enumerate(self.events):
            k = e["k"]
            if k == "recv":
                for r, _ident, _attempt in e["d"]:
                    received[r] = (i, e["c"])
            elif k in ("nack", "dead"):
                settled.add(e["r"])
                first = self.first_commit.get(e["id"])
                seen = received.get(e["r"], (i, 0))[0]
                if first is not None and seen > first:
                    verb = "nacked" if k == "nack" else "dead-lettered"
                    self._bad(
                        DUP,
                        i,
                        f"{_dl(e['r'], e['id'], e['attempt'])} is a duplicate "
                        f"({e['id']!r} was already committed) but was {verb}",
                    )
            elif k == "ack":
                settled.add(e["r"])
            elif k == "handler" and e["phase"] == "start":
                first = self.first_commit.get(e["id"])
                opened = self.tx_open.get(e["tx"], i)
                if first is not None and opened > first:
                    self._bad(
                        DUP,
                        i,
                        f"the handler was called again for {e['id']!r}, already committed "
                        "(a duplicate must be acked without calling the handler)",
                    )
        if not self._complete():
            return
        for r, (i, c) in received.items():
            recv = self.events[i]
            ident = next(d[1] for d in recv["d"] if d[0] == r)
            first = self.first_commit.get(ident)
            dead_before = c in self.crashed and self.crashed[c] > i
            if r not in settled and first is not None and i > first and not dead_before:
                self._bad(
                    DUP,
                    len(self.events),
                    f"delivery {r}, a duplicate of the already-committed {ident!r}, "
                    "was never acked",
                )

    def _failed(self) -> None:
        """Rule 5: a failing handler's writes are discarded; nack delays > 0, not shrinking."""
        for i, e in enumerate(self.events):
            if e["k"] == "commit":
                phases = self.tx_handler.get(e["tx"], [])
                for ident, phase in phases:
                    if phase == "raised" and ident in e["effects"]:
                        self._bad(
                            FAILED,
                            i,
                            f"the handler raised for {ident!r}, yet its writes were committed",
                        )
        last: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, e in enumerate(self.events):
            if e["k"] != "nack":
                continue
            delay = float(e["delay"])
            where = _dl(e["r"], e["id"], e["attempt"])
            if not delay > 0:
                self._bad(FAILED, i, f"{where} was nacked with delay={delay:g} (must be > 0)")
            for attempt, before in last[e["id"]]:
                if attempt < e["attempt"] and delay < before:
                    self._bad(
                        FAILED,
                        i,
                        f"{where} was nacked with delay={delay:g}, shorter than "
                        f"{before:g} at attempt {attempt} (backoff must not shrink)",
                    )
                    break
            last[e["id"]].append((int(e["attempt"]), delay))

    def _dead(self) -> None:
        """Rule 6: dead-letter exactly at attempt >= max_attempts, naming the exception."""
        m = self.s.max_attempts
        for i, e in enumerate(self.events):
            where = _dl(e.get("r", "?"), e.get("id", "?"), e.get("attempt", 0))
            if e["k"] == "nack" and e["attempt"] >= m and self._raised(e["id"]):
                self._bad(
                    DEAD,
                    i,
                    f"{where} failed with max_attempts={m} but was nacked, not dead-lettered",
                )
            elif e["k"] == "dead":
                if e["attempt"] < m:
                    self._bad(DEAD, i, f"{where} was dead-lettered although max_attempts={m}")
                if self.s.exception not in str(e["reason"]):
                    self._bad(
                        DEAD,
                        i,
                        f"{where} was dead-lettered with reason {str(e['reason'])[:80]!r}, "
                        f"which does not name the exception ({self.s.exception})",
                    )
                if self.effects.get(e["id"], 0) > 0:
                    self._bad(DEAD, i, f"{e['id']!r} was both processed and dead-lettered")
        if self._complete():
            for ident in sorted(self.s.poison):
                if not self._dead_lettered(ident):
                    self._bad(
                        DEAD,
                        len(self.events),
                        f"{ident!r} fails on every attempt but was never dead-lettered",
                    )

    def _conflict(self) -> None:
        """Rule 8: a Conflict at commit is retried, never nacked as a failure."""
        conflicted: set[str] = set()
        for i, e in enumerate(self.events):
            if e["k"] == "conflict":
                conflicted.update(ident for ident, _ in self.tx_handler.get(e["tx"], []))
            elif e["k"] in ("nack", "dead") and e["id"] in conflicted and not self._raised(e["id"]):
                verb = "nacked" if e["k"] == "nack" else "dead-lettered"
                self._bad(
                    CONFLICT,
                    i,
                    f"{_dl(e['r'], e['id'], e['attempt'])} was {verb} after a Conflict at "
                    "commit, though its handler never raised (retry the transaction)",
                )

    def _bound(self) -> None:
        """Rule 10: never more than ``concurrency`` handler calls at once."""
        running: dict[int, set[int]] = defaultdict(set)  # consumer → txs in the handler
        for i, e in enumerate(self.events):
            if e["k"] == "crash":
                running.pop(e["c"], None)
            elif e["k"] == "handler":
                if e["phase"] == "start":
                    running[e["c"]].add(e["tx"])
                    n = len(running[e["c"]])
                    if n > self.s.concurrency:
                        self._bad(
                            BOUND,
                            i,
                            f"{n} handler calls ran at once with concurrency={self.s.concurrency}",
                        )
                else:
                    running[e["c"]].discard(e["tx"])

    def _ttl(self) -> None:
        """Rule 1's marker: it expires after ``dedup_window`` (a finite TTL, not shorter)."""
        w = self.s.dedup_window
        for i, e in enumerate(self.events):
            if e["k"] != "commit" or not e["effects"]:
                continue
            for key, ttl in e["writes"]:
                if ttl is None or not (w * (1 - 1e-9) <= float(ttl) <= 2 * w):
                    shown = "no TTL" if ttl is None else f"ttl={float(ttl):g}"
                    self._bad(
                        TTL,
                        i,
                        f"the consumer wrote {key!r} with {shown}; the processed-marker must "
                        f"expire after dedup_window={w:g} s",
                    )
                    return

    def _stop(self) -> None:
        """Rule 4: after stop, no new receive, and run returns soon."""
        if self.stop_index is None:
            return
        stop_t = float(self.events[self.stop_index]["t"])
        alive = {e["c"] for e in self.events if e["k"] == "start"} - set(self.crashed)
        for i, e in enumerate(self.events[self.stop_index :], self.stop_index):
            if e["k"] == "recv_call" and e["c"] in alive:
                self._bad(STOP, i, f"receive() was called at t={e['t']:g}, after stop was set")
                break
        for c in sorted(alive):
            done = [e for e in self.events if e["k"] == "returned" and e["c"] == c]
            limit = self.s.handler_s + SOON_S
            if not done:
                self._bad(STOP, len(self.events), f"run() never returned after stop (t={stop_t:g})")
            elif float(done[0]["t"]) - stop_t > limit:
                took = float(done[0]["t"]) - stop_t
                self._bad(
                    STOP,
                    self.events.index(done[0]),
                    f"run() returned {took:g} s after stop (more than {limit:g} s)",
                )


def tell(events: list[Event], limit: int = 45) -> list[str]:
    """The trace in words, one line per event that matters (at most ``limit`` lines)."""
    lines: list[str] = []
    for e in events:
        k, t, c = e["k"], float(e["t"]), e.get("c", 0)
        who = f"t={t:g} consumer {c}:"
        if k == "start":
            lines.append(f"{who} started")
        elif k == "crash":
            lines.append(f"t={t:g}: consumer {c} died (SIGKILL-like: no cleanup ran)")
        elif k == "stop":
            lines.append(f"t={t:g}: stop was set")
        elif k == "returned":
            lines.append(f"{who} run() returned")
        elif k == "recv":
            got = ", ".join(f"{r}={i!r}#{a}" for r, i, a in e["d"])
            lines.append(f"{who} received {got}")
        elif k == "ack":
            lines.append(f"{who} ack {e['r']} ({e['id']!r})")
        elif k == "nack":
            lines.append(f"{who} nack {e['r']} ({e['id']!r}) delay={float(e['delay']):g}")
        elif k == "dead":
            lines.append(f"{who} dead-letter {e['r']} ({e['id']!r}): {str(e['reason'])[:60]!r}")
        elif k == "handler" and e["phase"] != "start":
            verb = "returned" if e["phase"] == "ok" else "raised"
            lines.append(f"{who} handler({e['id']!r}) {verb} in tx {e['tx']}")
        elif k == "commit" and not e["effects"] and not e["writes"]:
            lines.append(f"{who} commit tx {e['tx']} (nothing written)")
        elif k == "commit":
            what = ", ".join(repr(i) for i in e["effects"]) or "no effects"
            marks = ", ".join(
                f"{key}{'' if ttl is None else f' ttl={float(ttl):g}'}" for key, ttl in e["writes"]
            )
            lines.append(
                f"{who} commit tx {e['tx']}: effects of {what}"
                + (f"; set {marks}" if marks else "")
            )
        elif k == "end":
            lines.append(f"t={t:g}: the run ends (everything settled); stop is set")
        elif k == "hung":
            lines.append(f"consumer {c}: run() had not returned {60:g} s after stop")
        elif k == "conflict":
            lines.append(f"{who} tx {e['tx']} raised Conflict at commit")
    if len(lines) > limit:
        cut = len(lines) - limit
        lines = [*lines[: limit // 2], f"… {cut} more events …", *lines[-(limit - limit // 2) :]]
    return lines
