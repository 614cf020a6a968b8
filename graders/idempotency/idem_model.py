"""The idempotency contract as a model: what ``execute`` may answer, step by step.

The model keeps, per key, what the contract says is there: nothing, a claim (which
call holds it, with which fingerprint, until when), or a completed record. Where the
contract allows two behaviours — a stale executor that finishes when nobody took
its key over may store its result or drop it — the key is ``Maybe``: the next
observation of that key settles which one the candidate chose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BOUNDARY = 1e-6  # the grader never looks within this many seconds of a boundary


@dataclass
class Claim:
    call: str
    fingerprint: str
    deadline: float


@dataclass
class Record:
    fingerprint: str
    value: Any
    expires: float


@dataclass
class Maybe:
    """Either ``record`` or nothing at all (a stale result stored, or dropped)."""

    record: Record


@dataclass(frozen=True)
class Outcome:
    """What one ``execute`` did, as the grader saw it."""

    kind: str  # run | replay | reused | in_progress | other
    value: Any = None
    retry_after: float = 0.0
    text: str = ""

    def words(self) -> str:
        if self.kind == "run":
            return "ran the operation"
        if self.kind == "replay":
            return f"replayed {_short(self.value)} without running the operation"
        if self.kind == "reused":
            return "raised KeyReused"
        if self.kind == "in_progress":
            return f"raised InProgress(retry_after={self.retry_after:.6g})"
        return self.text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def outcome_of(event: dict[str, Any]) -> Outcome:
    """Classifies the driver's event for a call that was just started."""
    state, ran = event.get("state"), event.get("ran", 0)
    if ran > 1:
        return Outcome("other", text=f"ran the operation {ran} times in one call")
    if state == "running":
        return Outcome("run")
    if state == "returned" and "bad_value" in event:
        return Outcome("other", text=f"returned {event['bad_value']}, not the stored JSON value")
    if state == "returned" and ran == 0:
        return Outcome("replay", value=event["value"])
    if state == "raised":
        raised = event["raised"]
        names = raised.get("mro", [])
        if "KeyReused" in names:
            return Outcome("reused")
        if "InProgress" in names:
            wait = event.get("retry_after")
            if wait is None:
                return Outcome("other", text="raised InProgress without a float retry_after")
            return Outcome("in_progress", retry_after=wait)
        return Outcome("other", text=f"raised {raised['type']}: {raised['message']}"[:300])
    if state == "pending":
        return Outcome("other", text="neither answered nor ran the operation: it waited")
    if state == "cancelled":
        return Outcome("other", text="was cancelled although nobody cancelled it")
    return Outcome("other", text=f"ended as {state} after running the operation {ran} time(s)")


class Model:
    def __init__(self, ttl: float, lease: float, retry_tolerance: float = 1e-6) -> None:
        self.ttl = ttl
        self.lease = lease
        self.retry_tolerance = retry_tolerance
        self.keys: dict[str, Claim | Record | Maybe] = {}
        self.running: dict[str, tuple[str, str]] = {}  # call → (key, fingerprint)

    # -- what is there -----------------------------------------------------

    def _live(self, key: str, now: float) -> Claim | Record | Maybe | None:
        state = self.keys.get(key)
        if isinstance(state, Claim) and now >= state.deadline:
            return None
        if isinstance(state, Record) and now >= state.expires:
            return None
        if isinstance(state, Maybe) and now >= state.record.expires:
            return None
        return state

    def boundaries(self) -> list[float]:
        out = []
        for state in self.keys.values():
            if isinstance(state, Claim):
                out.append(state.deadline)
            elif isinstance(state, Record):
                out.append(state.expires)
            else:
                out.append(state.record.expires)
        return out

    def clear_of_boundaries(self, now: float) -> bool:
        return all(abs(now - b) > BOUNDARY for b in self.boundaries())

    # -- judging -------------------------------------------------------------

    def _allowed(self, key: str, fingerprint: str, now: float) -> list[Outcome]:
        state = self._live(key, now)
        if state is None:
            return [Outcome("run")]
        if isinstance(state, Claim):
            if state.fingerprint != fingerprint:
                return [Outcome("reused")]
            return [Outcome("in_progress", retry_after=state.deadline - now)]
        record = state.record if isinstance(state, Maybe) else state
        answer = (
            Outcome("replay", value=record.value)
            if record.fingerprint == fingerprint
            else Outcome("reused")
        )
        return [Outcome("run"), answer] if isinstance(state, Maybe) else [answer]

    def _matches(self, want: Outcome, got: Outcome) -> bool:
        if want.kind != got.kind:
            return False
        if want.kind == "replay":
            return bool(same_json(want.value, got.value))
        if want.kind == "in_progress":
            return abs(got.retry_after - want.retry_after) <= self.retry_tolerance
        return True

    def expected_words(self, key: str, fingerprint: str, now: float) -> str:
        return " or ".join(o.words() for o in self._allowed(key, fingerprint, now))

    def start(self, call: str, key: str, fingerprint: str, now: float, got: Outcome) -> str | None:
        """Judges a new call; returns why it is wrong, or None and updates the model."""
        allowed = self._allowed(key, fingerprint, now)
        if not any(self._matches(want, got) for want in allowed):
            return _why(self._live(key, now), allowed, got, now)
        state = self.keys.get(key)
        if got.kind == "run":
            self.keys[key] = Claim(call, fingerprint, now + self.lease)
            self.running[call] = (key, fingerprint)
        elif isinstance(state, Maybe):
            self.keys[key] = state.record  # the candidate kept the stale result
        return None

    def finish(self, call: str, value: Any, now: float) -> None:
        key, fingerprint = self.running.pop(call)
        state = self.keys.get(key)
        if isinstance(state, Claim) and state.call == call:
            record = Record(fingerprint, value, now + self.ttl)
            self.keys[key] = record if now < state.deadline else Maybe(record)

    def release(self, call: str) -> None:
        """The operation failed or its caller was cancelled: forget the claim if still its own."""
        key, _ = self.running.pop(call)
        state = self.keys.get(key)
        if isinstance(state, Claim) and state.call == call:
            del self.keys[key]


def _why(
    state: Claim | Record | Maybe | None, allowed: list[Outcome], got: Outcome, now: float
) -> str:
    expected = " or ".join(o.words() for o in allowed)
    if isinstance(state, Claim):
        context = (
            f"the key is claimed by another call with fingerprint {state.fingerprint!r}, "
            f"lease for {state.deadline - now:.6g} s more"
        )
    elif isinstance(state, Record):
        context = (
            f"the key completed with fingerprint {state.fingerprint!r}, "
            f"record kept {state.expires - now:.6g} s more"
        )
    elif isinstance(state, Maybe):
        context = "a stale executor finished after its lease with nobody taking over"
    else:
        context = "the key is new (never used, expired, or released)"
    return f"{context}; expected: {expected}; got: {got.words()}"


def same_json(a: Any, b: Any) -> bool:
    """Equality of JSON values, with types: ``1`` is not ``1.0`` or ``True``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)
