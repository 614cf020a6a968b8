"""Hidden check for part 3 rule 12: several consumer processes on Redis Streams and
RedisStore, killed with SIGKILL at seeded moments and restarted.

Three process slots each run a consumer life after life (``dskata.drivers.
dedup_consumer_redis``): the first lives of each slot are killed with SIGKILL at a
seeded operation (the n-th receive, handler start, commit, ack, nack or dead letter
of that life — the process freezes there first, so the moment is exact), a new
process takes the slot's place, and the last life of each slot runs until the queue
is settled and then gets ``stop``. The grader publishes with plain XADDs (the kit's
field layout: ``id``, ``body``), duplicates some messages at once and some later,
makes some handlers fail for a few attempts or always, and some slower than two
visibility timeouts, so deliveries are taken over while still being handled. Once the
queue has settled after the kills, a final wave of slow messages, each published twice
at once, lands two copies of one id in two idle processes at once.

Measured (default and two other seed profiles, two gradings at once on 2 cores): 8–19 s
a grading; the reference and four other correct consumers passed every run; the
per-process-lock mutant showed 3–12 wrong messages a run, never fewer.

It judges from Redis itself: every message's effects committed exactly once, or the
message dead-lettered (never both, and the poison ones dead-lettered), nothing left
unsettled; from the processes' traces, rule 6 across processes (a failure on attempt
``max_attempts`` or later is dead-lettered, an earlier one is nacked).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis

from dskata.grading import Candidate, Story, check
from dskata.grading.services import direct_client
from dskata.redis_server import Server
from dskata.sandbox.faults import CandidateFault, NotAttempted

Spawn = Callable[..., Candidate]

STREAM, GROUP, PREFIX = "dedup:stream", "dedup", "store:"
VT_S = 1.0  # the brokers' visibility timeout
MAX_ATTEMPTS, CONCURRENCY, WINDOW_S = 3, 2, 600.0
SLOTS, KILLED_LIVES = 3, 3  # process slots; lives per slot that are killed
MESSAGES = 24  # published at the start
FINAL = 4  # published twice each once the queue has settled after the kills, all slow
LIFE_WAIT_S = 4.0  # a life that has not reached its kill point by then is killed anyway
SETTLE_S = 60.0  # how long the last lives get to settle the queue
STOP_WAIT_S = 10.0  # how long run() gets to return after stop
LATE_AT_S = 3.0  # when the late duplicates are published
# A slow handler outlives two visibility timeouts: its delivery is taken over twice while
# it runs, each time by whichever process polls first, so one id is in two processes'
# hands at once almost surely (missed only if the slow one's own process takes it back
# both times).
SLOW_S = VT_S * 2.6


@dataclass
class Plan:
    ids: list[str]
    poison: list[str]
    failures: dict[str, int]  # id → attempts that fail (-1: every one)
    slow: dict[str, float]  # id → handler seconds (longer than the visibility timeout)
    first: list[str]  # publish order at the start (adjacent ids are duplicates)
    late: list[str]  # published again LATE_AT_S later
    final: list[str]  # published (each twice) once the queue has settled after the kills
    kills: list[list[int]]  # per slot: the kill point of each killed life

    def describe(self) -> list[str]:
        twice = sorted({i for i in self.first if self.first.count(i) > 1}, key=_n)
        fails = ", ".join(f"{i} fails {n}×" for i, n in self.failures.items() if n > 0)
        return [
            f"{SLOTS} consumer processes at once, each DedupConsumer(max_attempts={MAX_ATTEMPTS}, "
            f"concurrency={CONCURRENCY}, dedup_window={WINDOW_S:g}) on RedisStreamsBroker"
            f"(visibility_timeout={VT_S:g}) and RedisStore, one real Redis",
            f"{MESSAGES} messages m0..m{MESSAGES - 1}; published twice at once: "
            f"{', '.join(twice)}; again {LATE_AT_S:g} s later: {', '.join(self.late)}; "
            f"once the queue has settled after the kills, twice at once: "
            + ", ".join(sorted(set(self.final), key=_n)),
            f"handler fails always (poison): {', '.join(self.poison)}; {fails}; "
            f"slower than the visibility timeout: "
            + ", ".join(f"{i} ({s:g} s)" for i, s in self.slow.items()),
            "each process slot: "
            + "; ".join(
                f"slot {s}: lives killed at operation " + ", ".join(map(str, k)) + ", then one to the end"
                for s, k in enumerate(self.kills)
            ),
        ]


def _n(ident: str) -> int:
    return int(ident[1:])


def make_plan(rng: random.Random) -> Plan:
    ids = [f"m{i}" for i in range(MESSAGES)]
    shuffled = ids[:]
    rng.shuffle(shuffled)
    poison, transient, slow = shuffled[:2], shuffled[2:5], shuffled[5:8]
    failures = {i: -1 for i in poison} | {i: rng.randint(1, MAX_ATTEMPTS - 1) for i in transient}
    # Two copies at once, of slow messages too: two processes holding one id at once is
    # what a per-process lock cannot see (measured: 2-5 double commits a run with 8 pairs).
    twice = set(shuffled[4:16])
    first: list[str] = []
    for i in ids:
        first += [i, i] if i in twice else [i]
    late = sorted(rng.sample(ids, 4), key=_n)
    kills = [[rng.randint(2, 30) for _ in range(KILLED_LIVES)] for _ in range(SLOTS)]
    extra = [f"m{MESSAGES + i}" for i in range(FINAL)]
    final = [i for i in extra for _ in range(2)]
    slow_s = {i: SLOW_S for i in sorted(slow, key=_n)} | {i: SLOW_S for i in extra}
    return Plan(ids + extra, sorted(poison, key=_n), failures, slow_s, first, late, final, kills)


# What the consumer was about to do (or had just done) when its process was killed.
MOMENTS = {
    "received": "just after receive() returned {ids}",
    "handler": "as the handler of {id} started",
    "commit": "before a transaction's EXEC",
    "committed": "just after a transaction committed",
    "ack": "before the ack of {id}",
    "acked": "just after the ack of {id}",
    "nack": "before the nack of {id}",
    "nacked": "just after the nack of {id}",
    "dead_letter": "before the dead letter of {id}",
    "dead_lettered": "just after the dead letter of {id}",
}


@dataclass
class Life:
    slot: int
    number: int
    kill_at: int | None
    state: str = ""
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"p{self.slot}-{self.number}"

    def told(self) -> str:
        frozen = [e for e in self.report.get("events", []) if e["k"] == "frozen"]
        if self.state == "frozen" and frozen:
            f = frozen[0]
            what = MOMENTS.get(f["at"], f["at"]).format(
                id=f.get("id", "?"), ids=", ".join(f.get("ids", []))
            )
            return f"{self.name}: SIGKILLed at its operation {f['op']}, {what}"
        if self.state == "running":
            return (
                f"{self.name}: SIGKILLed after {LIFE_WAIT_S:g} s "
                f"(only {self.report.get('ops')} operations, kill point {self.kill_at})"
            )
        if self.report.get("raised"):
            return f"{self.name}: run() raised {self.report['raised']}"
        if self.kill_at is None and self.report.get("returned"):
            return f"{self.name}: ran to the end ({self.report.get('ops')} operations); stop set, run() returned"
        return f"{self.name}: {self.state} after {self.report.get('ops')} operations"


def publish(direct: redis.Redis, ids: list[str]) -> None:
    for ident in ids:
        body = json.dumps({"n": _n(ident)}, separators=(",", ":"))
        direct.xadd(STREAM, {"id": ident, "body": body})


def life_options(plan: Plan, server: Server, name: str, kill_at: int | None) -> dict[str, Any]:
    return {
        "url": server.url,
        "name": name,
        "stream": STREAM,
        "group": GROUP,
        "prefix": PREFIX,
        "visibility_timeout": VT_S,
        "max_attempts": MAX_ATTEMPTS,
        "concurrency": CONCURRENCY,
        "dedup_window": WINDOW_S,
        "failures": plan.failures,
        "handler_s": plan.slow,
        "default_handler_s": 0.05,
        "kill_at": kill_at,
    }


class Run:
    """The slots' lives, played from threads of the grading process."""

    def __init__(self, spawn: Spawn, server: Server, plan: Plan) -> None:
        self.spawn, self.server, self.plan = spawn, server, plan
        self.lives: list[Life] = []
        self.finals: dict[int, Candidate] = {}
        self.fault: CandidateFault | None = None
        self.lock = threading.Lock()

    def slot(self, s: int) -> None:
        try:
            for number, kill_at in enumerate(self.plan.kills[s], 1):
                life = Life(s, number, kill_at)
                with self.lock:
                    self.lives.append(life)
                proc = self.spawn(life.name)
                proc.call("redis_start", **life_options(self.plan, self.server, life.name, kill_at))
                life.report = proc.call("redis_wait", wait_s=LIFE_WAIT_S, timeout_s=LIFE_WAIT_S + 5)
                life.state = life.report["state"]
                proc.kill()  # frozen at its kill point (or past its time): SIGKILL
            life = Life(s, KILLED_LIVES + 1, None)
            with self.lock:
                self.lives.append(life)
            proc = self.spawn(life.name)
            proc.call("redis_start", **life_options(self.plan, self.server, life.name, None))
            self.finals[s] = proc
        except CandidateFault as fault:
            self.fault = self.fault or fault

    def play(self, direct: redis.Redis) -> bool:
        """Runs every slot; returns whether the queue was settled in time."""
        started = time.monotonic()
        publish(direct, self.plan.first)
        with ThreadPoolExecutor(SLOTS) as pool:
            done = [pool.submit(self.slot, s) for s in range(SLOTS)]
            time.sleep(max(0.0, started + LATE_AT_S - time.monotonic()))
            publish(direct, self.plan.late)
            for future in done:
                future.result()
        if self.fault is not None:
            raise self.fault
        settled = self._settle(direct)
        if settled:
            # A quiet queue, three live processes, each waiting in one receive: the two
            # copies of a final id go to two processes at once.
            publish(direct, self.plan.final)
            settled = self._settle(direct)
        for s, proc in self.finals.items():
            life = next(li for li in self.lives if li.slot == s and li.kill_at is None)
            life.report = proc.call("redis_stop", wait_s=STOP_WAIT_S, timeout_s=STOP_WAIT_S + 5)
            life.state = life.report["state"]
            proc.kill()
        return settled


    def _settle(self, direct: redis.Redis) -> bool:
        """Waits until every entry is acked or dead-lettered (or SETTLE_S, or a run ended)."""
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if direct.xlen(STREAM) == 0 and _pending(direct) == 0:
                return True
            # A run() that ended by itself (raised, or the stub) will settle nothing more.
            if any(p.call("redis_wait", wait_s=0.0)["state"] != "running" for p in self.finals.values()):
                return False
        return False


def _pending(direct: redis.Redis) -> int:
    summary: Any = direct.xpending(STREAM, GROUP)
    return int(summary["pending"])


def judge(story: Story, direct: redis.Redis, plan: Plan, lives: list[Life], settled: bool) -> None:
    for life in lives:
        story.say(life.told())
    raised = [li for li in lives if li.report.get("raised")]
    if any(str(li.report["raised"]).startswith("NotImplementedError") for li in raised):
        raise NotAttempted("DedupConsumer raised NotImplementedError")
    if raised:
        li = raised[0]
        raise AssertionError(f"{li.name}: run() raised {li.report['raised']}")
    effects = {i: int(direct.get(f"{PREFIX}effect:{i}") or 0) for i in plan.ids}
    dead: dict[str, list[int]] = {}
    for _, raw in direct.xrange(f"{STREAM}:dead"):
        f = {k.decode(): v.decode() for k, v in raw.items()}
        dead.setdefault(f["id"], []).append(int(f["attempt"]))
    story.say(
        "afterwards, from Redis: effects "
        + ", ".join(f"{i}×{n}" for i, n in effects.items() if n != 1)
        + (" (every other message once)" if any(n != 1 for n in effects.values()) else "every message once")
        + "; dead-lettered: "
        + (", ".join(f"{i} (attempt {'/'.join(map(str, a))})" for i, a in sorted(dead.items())) or "none")
    )
    wrong: list[str] = []
    for i in plan.ids:
        if i in plan.poison:
            if effects[i]:
                wrong.append(f"poison message {i} had its effects committed {effects[i]}×")
            if i not in dead:
                wrong.append(f"poison message {i} was never dead-lettered")
        elif effects[i] != 1:
            wrong.append(f"{i}'s effects were committed {effects[i]}× (expected exactly once)")
        elif i in dead:
            wrong.append(f"{i} was processed and dead-lettered too")
    for i, attempts in dead.items():
        early = [a for a in attempts if a < MAX_ATTEMPTS]
        if early:
            wrong.append(f"{i} was dead-lettered on attempt {early[0]} < max_attempts={MAX_ATTEMPTS}")
    for life in lives:
        events = life.report.get("events", [])
        stop_t = next((e["t"] for e in events if e["k"] == "stop"), None)
        for e in events:
            if e["k"] == "nack" and e["attempt"] >= MAX_ATTEMPTS and (stop_t is None or e["t"] < stop_t):
                wrong.append(
                    f"{life.name} nacked {e['id']} on attempt {e['attempt']} "
                    f"(max_attempts={MAX_ATTEMPTS}: it should have been dead-lettered)"
                )
                break
    left = int(direct.xlen(STREAM))
    if not settled and left:
        wrong.append(f"{left} stream entries were still neither acked nor dead-lettered {SETTLE_S:g} s after the last kill")
    hung = [li.name for li in lives if li.kill_at is None and li.state == "hung"]
    if hung:
        wrong.append(f"run() did not return within {STOP_WAIT_S:g} s of stop in {', '.join(hung)}")
    for line in wrong[:12]:
        story.say(f"↳ wrong: {line}")
    if wrong:
        raise AssertionError(wrong[0] + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""))


@check(
    "DEDUP-REDIS-CRASH",
    part=3,
    dimension="resilience",
    points=12,
    timeout=150,
    title="Several processes on Redis Streams, SIGKILLed and restarted: every message processed exactly once or dead-lettered",
)
def test_redis_crash(spawn: Spawn, story: Story, redis_server: Server, rng: random.Random) -> None:
    plan = make_plan(rng)
    for line in plan.describe():
        story.say(line)
    direct = direct_client(redis_server)
    run = Run(spawn, redis_server, plan)
    settled = run.play(direct)
    judge(story, direct, plan, sorted(run.lives, key=lambda li: (li.slot, li.number)), settled)
