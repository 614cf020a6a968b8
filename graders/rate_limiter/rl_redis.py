"""Support for the part-3 checks: server time, a model that allows for it, MONITOR.

Time in part 3 is the Redis server's, which the grader cannot set. So the grader
reads ``TIME`` just before and just after each call, and ``WindowBucket`` accepts
any decision the exact token bucket gives for some moment inside that window —
tight (a millisecond or so), and never wrong for a correct limiter.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from rl_model import EPS, Outcome
from rl_support import call_text, decode

from dskata.grading import Candidate, Story
from dskata.grading.services import direct_client  # noqa: F401 - the part-3 checks take it from here
from dskata.sandbox.child import raise_for_raised

FAIL_DEADLINE_S = 1.5  # told to candidates: the client's 0.25 s timeouts, room for one retry
SCRIPT_COMMANDS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}
LOAD_COMMANDS = {"script", "function"}
CONNECTION_COMMANDS = {"client", "hello", "ping", "select", "auth", "echo", "command", "info"}


def server_now(direct: redis.Redis) -> float:
    seconds, micros = direct.time()
    return seconds + micros / 1e6


@dataclass
class Timed:
    """One call's result, the server-time window it happened in and how long it took."""

    outcome: Outcome | None
    raised: dict[str, Any] | None
    seconds: float
    start: float = 0.0
    end: float = 0.0


def timed_call(
    candidate: Candidate,
    handle: int,
    key: str,
    cost: int | None,
    direct: redis.Redis | None = None,
) -> Timed:
    """Calls try_acquire once; with ``direct``, brackets it with the server's TIME."""
    start = server_now(direct) if direct is not None else 0.0
    raw = candidate.call("redis_timed", handle=handle, key=key, cost=cost, timeout_s=10)
    end = server_now(direct) if direct is not None else 0.0
    raised = raw.get("raised")
    if raised is not None and (
        "NotImplementedError" in raised.get("mro", []) or raised.get("type") == "SystemExit"
    ):
        raise_for_raised("try_acquire", raised)
    outcome = None if raised is not None else decode(raw["decision"], call_text(key, cost))
    return Timed(outcome, raised, float(raw["seconds"]), start, end)


@dataclass
class _Window:
    lo: float
    hi: float
    first: float  # the window of server time the last call on this key happened in
    last: float


@dataclass
class WindowBucket:
    """The exact token bucket, with each call's time known only to lie in a window."""

    rate: float
    burst: int
    keys: dict[str, _Window] = field(default_factory=dict)

    def tolerance(self) -> float:
        return EPS + self.rate * 2e-6  # the server's clock counts whole microseconds

    def judge(self, key: str, cost: int, start: float, end: float, got: Outcome) -> str | None:
        """Returns why ``got`` is impossible for a call in [start, end], or None; updates."""
        tol = self.tolerance()
        w = self.keys.get(key)
        if w is None:
            lo = hi = float(self.burst)
        else:
            hi = min(float(self.burst), w.hi + max(0.0, end - w.first) * self.rate)
            lo = min(float(self.burst), w.lo + max(0.0, start - w.last) * self.rate)
        if got.allowed:
            if hi + tol < cost:
                return f"allowed, but the bucket held at most {hi:.6f} tokens < cost {cost}"
            lo, hi = max(0.0, lo - cost), max(0.0, hi - cost)
            if got.retry_after != 0.0:
                return f"allowed with retry_after={got.retry_after!r}, expected 0.0"
        else:
            if lo - tol >= cost:
                return f"denied, but the bucket held at least {lo:.6f} tokens ≥ cost {cost}"
            hi = min(hi, float(cost))
            earliest = (cost - hi) / self.rate - tol / self.rate
            latest = (cost - lo) / self.rate + tol / self.rate
            if not earliest <= got.retry_after <= latest:
                return (
                    f"denied with retry_after={got.retry_after!r}, expected between "
                    f"{max(0.0, earliest):.6f} and {latest:.6f} s"
                )
        low_rem = math.floor(lo - tol)
        high_rem = math.floor(hi + tol)
        if not low_rem <= got.remaining <= high_rem:
            return f"remaining={got.remaining}, expected between {max(0, low_rem)} and {high_rem}"
        self.keys[key] = _Window(lo, hi, start, end)
        return None


def fail_decision_problem(t: Timed, fail_open: bool) -> str | None:
    """Why ``t`` is not the fail-open/closed answer in time, or None."""
    if t.raised is not None:
        return f"raised {t.raised['type']}: {t.raised['message']}"
    if t.seconds > FAIL_DEADLINE_S:
        return f"took {t.seconds:.2f} s (limit {FAIL_DEADLINE_S} s)"
    assert t.outcome is not None
    expected = Outcome(fail_open, 0, 0.0)
    if t.outcome != expected:
        return f"returned {t.outcome.words()}, expected {expected.words()}"
    return None


@dataclass
class Monitor:
    """Commands clients sent to Redis while it watched (script-internal ones excluded)."""

    commands: list[list[str]] = field(default_factory=list)


@contextmanager
def monitor(url: str) -> Iterator[Monitor]:
    """Runs MONITOR in a thread for the duration of the block."""
    seen = Monitor()
    marker = "dskata-monitor-end"
    ready = threading.Event()
    failure: list[BaseException] = []

    def watch() -> None:
        client = redis.Redis.from_url(url, socket_timeout=30)
        try:
            with client.monitor() as m:
                ready.set()
                for event in m.listen():
                    words = str(event.get("command", "")).split(" ")
                    if words and words[0].upper() == "ECHO" and marker in words[-1]:
                        return
                    if event.get("client_type") == "lua":
                        continue
                    seen.commands.append(words)
        except BaseException as exc:  # surfaced in the check, not lost in a thread
            failure.append(exc)
            ready.set()
        finally:
            client.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield seen
    finally:
        redis.Redis.from_url(url).echo(marker)
        thread.join(30)
    if failure:
        raise RuntimeError(f"MONITOR failed: {failure[0]!r}")


def say_timed(story: Story, t: Timed, key: str, cost: int | None, origin: float) -> None:
    when = f"server t=+{t.start - origin:.4f}s" if t.start else "t=?"
    if t.raised is not None:
        story.say(
            f"{when}: {call_text(key, cost)} raised {t.raised['type']}: {t.raised['message']}"
        )
    else:
        assert t.outcome is not None
        story.say(f"{when}: {call_text(key, cost)} → {t.outcome.words()}")
