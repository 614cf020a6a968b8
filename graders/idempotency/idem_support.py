"""Runs steered ``execute`` calls against the candidate and the model, telling the story.

A ``Session`` is one layer in the candidate's process with the model beside it.
Every step — start calls, finish or fail an operation, cancel a caller, let time
pass — is judged the moment it happens; the first disagreement fails the check
with the whole story so far.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from idem_model import Model, outcome_of, same_json, short

from dskata.grading import Candidate, Story
from dskata.grading.api import raised_is
from dskata.sandbox.child import Reply

FAIL_DEADLINE_S = 1.5  # part 2: every answer within this long (the statement says so)


def value_for(call: str, n: int = 1) -> dict[str, Any]:
    """An operation's result: nested, so a shallow copy does not protect a replay."""
    return {"call": call, "amount": n * 100, "items": [{"sku": f"sku-{n}", "qty": n}], "note": None}


# Results that look like "nothing" are results too: a layer must not mistake them
# for "no result yet".
FALSY_RESULTS: tuple[Any, ...] = (None, 0, False, "", [], {})


def result_for(call: str, n: int) -> Any:
    """Mostly nested values; every fifth step a falsy one."""
    return FALSY_RESULTS[(n // 5) % len(FALSY_RESULTS)] if n % 5 == 4 else value_for(call, n)


class Session:
    """One layer under test. Part 1: manual clock (``real=False``); part 2: real time."""

    def __init__(
        self,
        candidate: Candidate,
        story: Story,
        ttl: float,
        lease: float,
        *,
        handle: int | None = None,
        real: bool = False,
        retry_tolerance: float = 1e-6,
        name: str = "",
        model: Model | None = None,
    ) -> None:
        self.candidate = candidate
        self.story = story
        self.real = real
        self.name = name
        # Sessions in several processes share one model: the contract spans them all.
        self.model = model or Model(ttl, lease, retry_tolerance)
        self._ids = itertools.count(1)
        self.timeout = FAIL_DEADLINE_S if real else None
        if handle is None:
            handle = candidate.call("new", ttl=ttl, lease=lease, start=1000.0)
            story.say(f"IdempotencyLayer(ttl={ttl:g}, lease={lease:g}) with a manual clock at t=0")
        self.handle = handle
        self.origin = time.monotonic() if real else 1000.0
        self.fake_now = 1000.0
        self.returned: list[str] = []  # calls that got a value back, for mutation
        self.keys_of: dict[str, tuple[str, str]] = {}

    # -- time --------------------------------------------------------------

    @property
    def now(self) -> float:
        return time.monotonic() if self.real else self.fake_now

    def _t(self) -> str:
        prefix = f"{self.name}: " if self.name else ""
        return f"{prefix}t={self.now - self.origin:.4g}"

    def advance(self, seconds: float) -> None:
        """Lets time pass (a real sleep in part 2); part 1 steps around exact boundaries."""
        if self.real:
            time.sleep(seconds)
            self.story.say(f"{self._t()}: {seconds:g} s later")
            return
        target = self.fake_now + seconds
        while not self.model.clear_of_boundaries(target):
            target += 1e-3
        self.candidate.call("advance", handle=self.handle, seconds=target - self.fake_now)
        self.story.say(f"… {target - self.fake_now:.6g} s pass")
        self.fake_now = target

    # -- calls -------------------------------------------------------------

    def _what(self, call: str) -> str:
        key, fingerprint = self.keys_of[call]
        return f"execute({key!r}, fingerprint={fingerprint!r}) [{call}]"

    def start(self, *calls: tuple[str, str]) -> list[str]:
        """Starts the calls together; returns the ids of those whose operation now runs."""
        ids = [
            f"{self.name}.{next(self._ids)}" if self.name else f"c{next(self._ids)}" for _ in calls
        ]
        for cid, (key, fingerprint) in zip(ids, calls, strict=True):
            self.keys_of[cid] = (key, fingerprint)
        events = self.candidate.call(
            "start",
            handle=self.handle,
            calls=[[cid, key, fp] for cid, (key, fp) in zip(ids, calls, strict=True)],
            timeout=self.timeout,
            timeout_s=10,
        )
        now = self.now
        outcomes = {cid: outcome_of(events[cid]) for cid in ids}
        together = " (started together)" if len(ids) > 1 else ""
        # Which of several concurrent calls claims a key is the scheduler's business:
        # judge the ones that ran first, then the rest in the order they were started.
        order = sorted(ids, key=lambda c: outcomes[c].kind != "run")
        ran = []
        for cid in order:
            key, fingerprint = self.keys_of[cid]
            got = outcomes[cid]
            self.story.say(f"{self._t()}: {self._what(cid)}{together} → {got.words()}")
            why = self.model.start(cid, key, fingerprint, now, got)
            if why is not None:
                self.story.say(f"↳ wrong: {why}")
                raise AssertionError(f"{self._t()}: {self._what(cid)}: {why}")
            if got.kind == "run":
                ran.append(cid)
            elif got.kind == "replay":
                self.returned.append(cid)
        return ran

    def finish(self, call: str, value: Any, *, recorded: bool | None = True) -> None:
        """Finishes the call's operation with ``value``; its caller must get it back.

        ``recorded=False``: Redis was failing, so the result cannot have been stored;
        the claim stays until its lease ends. ``None``: it may or may not have been.
        """
        event = self.candidate.call(
            "finish", call_id=call, value=value, timeout=self.timeout, timeout_s=10
        )
        self.story.say(f"{self._t()}: operation of {call} returns {short(value)}")
        if event.get("state") != "returned" or not same_json(event.get("value"), value):
            got = (
                outcome_of(event).words()
                if event.get("state") != "returned"
                else (f"returned {short(event.get('value', event.get('bad_value')))}")
            )
            self.story.say(f"↳ wrong: {call}'s caller must get that value; it {got}")
            raise AssertionError(
                f"{self._t()}: the operation of {self._what(call)} returned {short(value)} "
                f"but execute {got}"
            )
        self.story.say(f"{self._t()}: {call}'s caller gets it back")
        if recorded is None:
            self.model.finish_maybe_recorded(call, value, self.now)
        elif recorded:
            self.model.finish(call, value, self.now)
        else:
            self.model.keep_claim(call)
        self.returned.append(call)

    def fail(self, call: str) -> None:
        event = self.candidate.call(
            "fail",
            call_id=call,
            message=f"payment declined ({call})",
            timeout=self.timeout,
            timeout_s=10,
        )
        self.story.say(f"{self._t()}: operation of {call} raises OperationFailed")
        if event.get("state") != "raised" or not event.get("same"):
            got = _ending(event)
            self.story.say(f"↳ wrong: the same exception must reach {call}'s caller; {got}")
            raise AssertionError(
                f"{self._t()}: the operation of {self._what(call)} raised OperationFailed "
                f"but execute {got}"
            )
        self.story.say(f"{self._t()}: {call}'s caller gets that exception")
        self.model.release(call)

    def cancel(self, call: str) -> None:
        event = self.candidate.call("cancel", call_id=call, timeout=self.timeout, timeout_s=10)
        self.story.say(f"{self._t()}: {call}'s caller is cancelled while its operation runs")
        if event.get("state") != "cancelled":
            got = _ending(event)
            self.story.say(f"↳ wrong: the cancellation must propagate; {got}")
            raise AssertionError(
                f"{self._t()}: cancelling {self._what(call)} must propagate, but execute {got}"
            )
        self.model.release(call)

    def mutate(self, call: str) -> None:
        self.candidate.call("mutate", call_id=call)
        self.story.say(f"{self._t()}: {call}'s caller changes the value it got, in place")


def _ending(event: dict[str, Any]) -> str:
    state = event.get("state")
    if state == "raised":
        raised = event["raised"]
        what = raised_words(raised)
        return what + (" (a different object)" if raised["type"] == "OperationFailed" else "")
    if state == "returned":
        return f"returned {short(event.get('value', event.get('bad_value')))}"
    if state in ("running", "pending"):
        return "did not answer (it was still waiting)"
    return f"ended as {state}"


# -- validation (rule 9), the same for both parts -------------------------------

BAD_KEYS: list[tuple[Any, str]] = [
    ("", "an empty key"),
    ("k" * 256, "a key of 256 characters"),
    (None, "None"),
    (42, "an int"),
    (["k"], "a list"),
]
BAD_LIMITS: list[tuple[str, Any]] = [
    ("ttl", 0),
    ("ttl", -1.0),
    ("ttl", float("nan")),
    ("ttl", float("inf")),
    ("lease", 0.0),
    ("lease", -5),
    ("lease", float("nan")),
    ("lease", float("inf")),
]
# Not numbers: the statement wants ValueError, and accepts TypeError too. A layer that
# converts with float() first takes "5" for 5.0 (None cannot be sent: the driver leaves
# a None argument at its default).
NOT_NUMBERS: list[tuple[str, Any]] = [("ttl", "5"), ("lease", "30"), ("ttl", [60])]


def check_bad_limits(story: Story, cls: str, construct: Callable[..., Reply]) -> None:
    """Bad ttl or lease raise ValueError from the constructor; small good ones do not."""
    for name, value in BAD_LIMITS:
        reply = construct(**{name: value})
        story.say(f"{cls}({name}={value!r}) → {raised_words(reply.raised)}")
        assert raised_is(reply.raised, "ValueError"), (
            f"{cls}({name}={value!r}) must raise ValueError; it {raised_words(reply.raised)}"
        )
    for name, value in NOT_NUMBERS:
        reply = construct(**{name: value})
        story.say(f"{cls}({name}={value!r}) → {raised_words(reply.raised)}")
        assert raised_is(reply.raised, "ValueError") or raised_is(reply.raised, "TypeError"), (
            f"{cls}({name}={value!r}) must raise ValueError (or TypeError); "
            f"it {raised_words(reply.raised)}"
        )
    for name, value in (("ttl", 0.001), ("lease", 1)):
        reply = construct(**{name: value})
        assert reply.raised is None, (
            f"{cls}({name}={value!r}) must be accepted; it {raised_words(reply.raised)}"
        )


def check_bad_keys(
    candidate: Candidate, story: Story, handle: int, timeout: float | None = None
) -> None:
    """Bad keys raise ValueError from execute, and the operation never runs."""
    for key, words in BAD_KEYS:
        events = candidate.call("start", handle=handle, calls=[["bad", key, "A"]], timeout=timeout)
        event = events["bad"]
        got = raised_words(event.get("raised")) if event["state"] == "raised" else event["state"]
        story.say(f"execute({words}) → {got}")
        assert event["state"] == "raised" and raised_is(event["raised"], "ValueError"), (
            f"execute() with {words} as key must raise ValueError; it {got}"
        )
        assert event["ran"] == 0, f"execute() with {words} as key ran the operation"


def raised_words(raised: dict[str, Any] | None) -> str:
    if raised is None:
        return "raised nothing"
    return f"raised {raised['type']}: {raised['message']}"[:200]
