"""The idempotency contract as a model: what ``execute`` may answer, step by step.

The model keeps, per key, what the contract says may be there: nothing, a claim
(which call holds it, with which fingerprint, until when), or a completed record.
Where the contract allows more than one behaviour — a stale executor that finishes
when its key is free may store its result or drop it — the key holds every state
the candidate may be in; each observation keeps the ones that explain it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BOUNDARY = 1e-6  # the grader never looks within this many seconds of a boundary


@dataclass(frozen=True)
class Claim:
    call: str
    fingerprint: str
    deadline: float


@dataclass(frozen=True)
class Record:
    fingerprint: str
    value: Any
    expires: float


State = Claim | Record | None


def live(state: State, now: float) -> State:
    """The state as a caller at ``now`` sees it: an expired claim or record is nothing."""
    if isinstance(state, Claim) and now >= state.deadline:
        return None
    if isinstance(state, Record) and now >= state.expires:
        return None
    return state


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
            return f"replayed {short(self.value)} without running the operation"
        if self.kind == "reused":
            return "raised KeyReused"
        if self.kind == "in_progress":
            return f"raised InProgress(retry_after={self.retry_after:.6g})"
        return self.text


def short(value: Any) -> str:
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
        self.keys: dict[str, list[State]] = {}  # every state the key may be in
        self.running: dict[str, tuple[str, str]] = {}  # call → (key, fingerprint)

    def _states(self, key: str) -> list[State]:
        return self.keys.get(key, [None])

    def _set(self, key: str, states: list[State]) -> None:
        unique: list[State] = []
        for state in states:
            if state not in unique:
                unique.append(state)
        self.keys[key] = unique

    # -- boundaries ------------------------------------------------------------

    def clear_of_boundaries(self, now: float) -> bool:
        for states in self.keys.values():
            for state in states:
                edge = (
                    state.deadline
                    if isinstance(state, Claim)
                    else state.expires
                    if isinstance(state, Record)
                    else None
                )
                if edge is not None and abs(now - edge) <= BOUNDARY:
                    return False
        return True

    # -- judging -----------------------------------------------------------------

    def _answer(self, state: State, fingerprint: str, now: float) -> Outcome:
        """The one answer the contract gives for a key in ``state``."""
        seen = live(state, now)
        if seen is None:
            return Outcome("run")
        if seen.fingerprint != fingerprint:
            return Outcome("reused")
        if isinstance(seen, Claim):
            return Outcome("in_progress", retry_after=seen.deadline - now)
        return Outcome("replay", value=seen.value)

    def _matches(self, want: Outcome, got: Outcome) -> bool:
        if want.kind != got.kind:
            return False
        if want.kind == "replay":
            return same_json(want.value, got.value)
        if want.kind == "in_progress":
            return abs(got.retry_after - want.retry_after) <= self.retry_tolerance
        return True

    def start(self, call: str, key: str, fingerprint: str, now: float, got: Outcome) -> str | None:
        """Judges a new call; returns why it is wrong, or None and updates the model."""
        states = self._states(key)
        fits = [s for s in states if self._matches(self._answer(s, fingerprint, now), got)]
        if not fits:
            return _why(states, fingerprint, got, now, self)
        if got.kind == "run":
            self._set(key, [Claim(call, fingerprint, now + self.lease)])
            self.running[call] = (key, fingerprint)
        else:
            self._set(key, fits)
        return None

    def finish(self, call: str, value: Any, now: float) -> None:
        """The call's operation returned ``value`` and its caller got it back."""
        key, fingerprint = self.running.pop(call)
        record = Record(fingerprint, value, now + self.ttl)
        after: list[State] = []
        for state in self._states(key):
            if isinstance(state, Claim) and state.call == call:
                # Its own claim: stored; if its lease ran out, dropping is accepted too.
                after += [record] if now < state.deadline else [record, None]
            elif live(state, now) is None:
                after += [state, record]  # a free key: storing or dropping both accepted
            else:
                after.append(state)  # a newer live claim or record: fenced off
        self._set(key, after)

    def release(self, call: str) -> None:
        """The operation failed or its caller was cancelled: its own claim is forgotten."""
        key, _ = self.running.pop(call)
        self._set(
            key,
            [None if isinstance(s, Claim) and s.call == call else s for s in self._states(key)],
        )

    def finish_maybe_recorded(self, call: str, value: Any, now: float) -> None:
        """The caller got ``value`` back, but whether its record reached Redis before the
        lease ran out is not known (its write may have timed out): either is accepted."""
        key, fingerprint = self.running.pop(call)
        record = Record(fingerprint, value, now + self.ttl)
        after: list[State] = []
        for state in self._states(key):
            if isinstance(state, Claim) and state.call == call:
                after += [record, state]
            else:
                after.append(state)
        self._set(key, after)

    def keep_claim(self, call: str) -> None:
        """The result could not be recorded (Redis failed): the claim lapses with its lease."""
        self.running.pop(call)


def _why(states: list[State], fingerprint: str, got: Outcome, now: float, model: Model) -> str:
    contexts = []
    for state in states:
        seen = live(state, now)
        if isinstance(seen, Claim):
            contexts.append(
                f"the key is claimed by {seen.call} with fingerprint {seen.fingerprint!r}, "
                f"its lease good for {seen.deadline - now:.6g} s more"
            )
        elif isinstance(seen, Record):
            contexts.append(
                f"the key completed with fingerprint {seen.fingerprint!r}, "
                f"its record kept {seen.expires - now:.6g} s more"
            )
        else:
            contexts.append("the key is new (never used, expired, or released)")
    context = " — or — ".join(dict.fromkeys(contexts))
    expected = " or ".join(
        dict.fromkeys(model._answer(s, fingerprint, now).words() for s in states)
    )
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
