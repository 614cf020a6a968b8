"""The dedup-consumer judge on hand-written traces: each rule broken once is named, and
the same trace done right passes.

The mutants prove the grader catches real consumers; these pin the judge's reading of
the contract, so a change to it cannot quietly loosen or tighten a rule.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graders" / "dedup_consumer"))

from dedup_judge import (
    ACK,
    BOUND,
    CONFLICT,
    DEAD,
    DUP,
    FAILED,
    ONCE,
    STOP,
    TTL,
    Judge,
    Scenario,
    tell,
)

Ev = dict[str, Any]


def sc(**kw: Any) -> Scenario:
    base: dict[str, Any] = {"max_attempts": 3, "concurrency": 1, "dedup_window": 60.0, "ids": ["a"]}
    return Scenario(**{**base, **kw})


def ev(k: str, t: float = 0.0, c: int = 0, **kw: Any) -> Ev:
    return {"k": k, "t": t, "c": c, **kw}


def process(
    r: str,
    ident: str,
    tx: int,
    attempt: int = 1,
    t: float = 0.0,
    *,
    ack: bool = True,
    ack_first: bool = False,
    ttl: float | None = 60.0,
) -> list[Ev]:
    """A delivery received, handled in one transaction, committed with its marker, acked."""
    events = [
        ev("recv_call", t),
        ev("recv", t, d=[[r, ident, attempt]]),
        ev("tx", t, tx=tx),
        ev("handler", t, tx=tx, id=ident, phase="start"),
        ev("handler", t + 1, tx=tx, id=ident, phase="ok"),
        ev("commit", t + 1, tx=tx, effects=[ident], writes=[[f"seen:{ident}", ttl]]),
    ]
    a = ev("ack", t + 1, r=r, id=ident, attempt=attempt)
    if ack_first:
        events.insert(2, a)
    elif ack:
        events.append(a)
    return events


def duplicate(r: str, ident: str, tx: int, t: float) -> list[Ev]:
    return [
        ev("recv", t, d=[[r, ident, 1]]),
        ev("tx", t, tx=tx),
        ev("abort", t, tx=tx),
        ev("ack", t, r=r, id=ident, attempt=1),
    ]


def failing(r: str, ident: str, tx: int, attempt: int, t: float, settle: Ev) -> list[Ev]:
    return [
        ev("recv", t, d=[[r, ident, attempt]]),
        ev("tx", t, tx=tx),
        ev("handler", t, tx=tx, id=ident, phase="start"),
        ev("handler", t + 1, tx=tx, id=ident, phase="raised"),
        ev("abort", t + 1, tx=tx),
        settle,
    ]


def tags(scenario: Scenario, events: list[Ev], effects: dict[str, int]) -> set[str]:
    return {v.tag for v in Judge(scenario, events, effects).violations}


def test_one_message_done_right_passes() -> None:
    events = [ev("start"), *process("r1", "a", 1), *duplicate("r2", "a", 2, 3.0)]
    assert tags(sc(), events, {"a": 1}) == set()
    assert any("commit tx 1" in line for line in tell(events))


def test_effects_twice_break_rule_1() -> None:
    events = [ev("start"), *process("r1", "a", 1), *process("r2", "a", 2, t=3.0)]
    found = tags(sc(), events, {"a": 2})
    assert ONCE in found and DUP in found  # processed again: the handler ran for a duplicate


def test_a_lost_message_breaks_rule_1() -> None:
    assert ONCE in tags(sc(), [ev("start")], {})
    assert tags(sc(stop_at=1.0), [ev("start"), ev("stop", 1.0), ev("returned", 1.0)], {}) == set()


def test_success_never_committed_breaks_rule_1() -> None:
    events = [ev("start"), *process("r1", "a", 1)[:5], ev("crash", 1.5), ev("start", 1.5, c=1)]
    assert ONCE in tags(sc(stop_at=9.0), events, {})


def test_ack_before_commit_breaks_rule_2() -> None:
    events = [ev("start"), *process("r1", "a", 1, ack_first=True)]
    assert tags(sc(), events, {"a": 1}) == {ACK}


def test_duplicate_nacked_or_never_acked_breaks_rule_3() -> None:
    nacked = [
        ev("start"),
        *process("r1", "a", 1),
        ev("recv", 3, d=[["r2", "a", 1]]),
        ev("nack", 3, r="r2", id="a", attempt=1, delay=1.0),
    ]
    assert tags(sc(), nacked, {"a": 1}) == {DUP}
    unacked = [ev("start"), *process("r1", "a", 1), ev("recv", 3, d=[["r2", "a", 1]])]
    assert tags(sc(), unacked, {"a": 1}) == {DUP}
    # ... but a consumer that died holding it may leave it unacked.
    assert tags(sc(), [*unacked, ev("crash", 4)], {"a": 1}) == set()


def test_receive_after_stop_or_late_return_break_rule_4() -> None:
    base = [ev("start"), *process("r1", "a", 1), ev("stop", 5.0)]
    assert tags(sc(stop_at=5.0), [*base, ev("returned", 6.0)], {"a": 1}) == set()
    assert STOP in tags(
        sc(stop_at=5.0), [*base, ev("recv_call", 5.0), ev("returned", 6.0)], {"a": 1}
    )
    assert STOP in tags(sc(stop_at=5.0), [*base, ev("returned", 50.0)], {"a": 1})
    assert STOP in tags(sc(stop_at=5.0), base, {"a": 1})


def test_zero_or_shrinking_backoff_breaks_rule_5() -> None:
    def nack(r: str, attempt: int, delay: float) -> Ev:
        return ev("nack", attempt, r=r, id="a", attempt=attempt, delay=delay)

    ok = [
        ev("start"),
        *failing("r1", "a", 1, 1, 0, nack("r1", 1, 1.0)),
        *failing("r2", "a", 2, 2, 2, nack("r2", 2, 2.0)),
        *process("r3", "a", 3, 3, t=5),
    ]
    assert tags(sc(), ok, {"a": 1}) == set()
    zero = [
        ev("start"),
        *failing("r1", "a", 1, 1, 0, nack("r1", 1, 0.0)),
        *process("r3", "a", 3, 2, t=5),
    ]
    assert tags(sc(), zero, {"a": 1}) == {FAILED}
    shrinking = [
        ev("start"),
        *failing("r1", "a", 1, 1, 0, nack("r1", 1, 2.0)),
        *failing("r2", "a", 2, 2, 2, nack("r2", 2, 1.0)),
        *process("r3", "a", 3, 3, t=5),
    ]
    assert tags(sc(), shrinking, {"a": 1}) == {FAILED}


def test_failed_handler_writes_committed_break_rule_5() -> None:
    events = [
        ev("start"),
        ev("recv", 0, d=[["r1", "a", 1]]),
        ev("tx", 0, tx=1),
        ev("handler", 0, tx=1, id="a", phase="start"),
        ev("handler", 1, tx=1, id="a", phase="raised"),
        ev("commit", 1, tx=1, effects=["a"], writes=[["seen:a", 60.0]]),
        ev("ack", 1, r="r1", id="a", attempt=1),
    ]
    assert FAILED in tags(sc(poison={"a"}), events, {"a": 1})


def test_dead_letter_rules_6() -> None:
    def dead(r: str, attempt: int, reason: str = "PoisonMessage: bad") -> Ev:
        return ev("dead", attempt, r=r, id="a", attempt=attempt, reason=reason)

    def nack(r: str, attempt: int) -> Ev:
        return ev("nack", attempt, r=r, id="a", attempt=attempt, delay=1.0)

    s = sc(max_attempts=2, poison={"a"})
    right = [
        ev("start"),
        *failing("r1", "a", 1, 1, 0, nack("r1", 1)),
        *failing("r2", "a", 2, 2, 2, dead("r2", 2)),
    ]
    assert tags(s, right, {}) == set()
    early = [ev("start"), *failing("r1", "a", 1, 1, 0, dead("r1", 1))]
    assert tags(s, early, {}) == {DEAD}
    forever = [
        ev("start"),
        *failing("r1", "a", 1, 1, 0, nack("r1", 1)),
        *failing("r2", "a", 2, 2, 2, nack("r2", 2)),
    ]
    assert tags(s, forever, {}) == {DEAD}
    unnamed = [
        ev("start"),
        *failing("r1", "a", 1, 1, 0, nack("r1", 1)),
        *failing("r2", "a", 2, 2, 2, dead("r2", 2, "handler failed")),
    ]
    assert tags(s, unnamed, {}) == {DEAD}


def test_conflict_nacked_breaks_rule_8() -> None:
    events = [
        ev("start"),
        ev("recv", 0, d=[["r1", "a", 1]]),
        ev("tx", 0, tx=1),
        ev("handler", 0, tx=1, id="a", phase="start"),
        ev("handler", 1, tx=1, id="a", phase="ok"),
        ev("conflict", 1, tx=1),
        ev("nack", 1, r="r1", id="a", attempt=1, delay=1.0),
        *process("r2", "a", 2, 2, t=3),
    ]
    assert tags(sc(), events, {"a": 1}) == {CONFLICT}
    retried = [
        *events[:6],
        ev("tx", 1, tx=3),
        ev("handler", 1, tx=3, id="a", phase="start"),
        ev("handler", 2, tx=3, id="a", phase="ok"),
        ev("commit", 2, tx=3, effects=["a"], writes=[["seen:a", 60.0]]),
        ev("ack", 2, r="r1", id="a", attempt=1),
    ]
    assert tags(sc(), retried, {"a": 1}) == set()


def test_too_many_handlers_at_once_break_rule_10() -> None:
    events = [ev("start"), ev("recv", 0, d=[["r1", "a", 1], ["r2", "b", 1]])]
    for tx, ident in ((1, "a"), (2, "b")):
        events += [ev("tx", 0, tx=tx), ev("handler", 0, tx=tx, id=ident, phase="start")]
    for tx, r, ident in ((1, "r1", "a"), (2, "r2", "b")):
        events += [
            ev("handler", 1, tx=tx, id=ident, phase="ok"),
            ev("commit", 1, tx=tx, effects=[ident], writes=[]),
            ev("ack", 1, r=r, id=ident, attempt=1),
        ]
    assert tags(sc(ids=["a", "b"], concurrency=1), events, {"a": 1, "b": 1}) == {BOUND}
    assert tags(sc(ids=["a", "b"], concurrency=2), events, {"a": 1, "b": 1}) == set()


@pytest.mark.parametrize("ttl", [None, 1.0, 1e9])
def test_marker_without_a_window_ttl_breaks_the_ttl_rule(ttl: float | None) -> None:
    events = [ev("start"), *process("r1", "a", 1, ttl=ttl)]
    assert tags(sc(), events, {"a": 1}) == {TTL}


def test_a_duplicate_of_a_dead_lettered_message_may_be_acked() -> None:
    s = sc(max_attempts=1, poison={"a"})
    dead = ev("dead", 1, r="r1", id="a", attempt=1, reason="PoisonMessage: x")
    events = [ev("start"), *failing("r1", "a", 1, 1, 0, dead), *duplicate("r2", "a", 2, 3.0)]
    assert tags(s, events, {}) == set()
