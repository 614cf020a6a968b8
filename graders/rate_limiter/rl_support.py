"""Helpers shared by the rate-limiter checks: running steps and telling them as a story."""

from __future__ import annotations

from typing import Any

from rl_model import BucketModel, Outcome

from dskata.grading import Candidate, Story


def decode(raw: Any, what: str) -> Outcome:
    """Turns the driver's encoding into an Outcome; a wrong return type fails the check."""
    if isinstance(raw, dict) and "bad_return" in raw:
        raise AssertionError(f"{what} {raw['bad_return']}")
    if (
        type(raw) is not list
        or len(raw) != 3
        or type(raw[0]) is not bool
        or type(raw[1]) is not int
        or type(raw[2]) not in (int, float)
    ):
        raise AssertionError(f"{what} returned a malformed decision {raw!r}"[:300])
    return Outcome(raw[0], raw[1], float(raw[2]))


def call_text(key: str, cost: int | None) -> str:
    return f"try_acquire({key!r})" if cost is None else f"try_acquire({key!r}, cost={cost})"


def run_steps(
    candidate: Candidate,
    story: Story,
    rate: float,
    burst: int,
    steps: list[tuple[float, str, int | None]],
) -> list[Outcome]:
    """Runs ``(time, key, cost)`` steps on a fresh limiter; every step goes into the story.

    A candidate exception fails the check with the step that raised it.
    """
    story.say(f"TokenBucketLimiter(rate={rate:g}, burst={burst}) with a manual clock")
    handle = candidate.call("new", rate=rate, burst=burst)
    result = candidate.call("run", handle=handle, steps=[list(s) for s in steps], timeout_s=10)
    candidate.call("drop", handle=handle)
    outcomes = []
    for (at, key, cost), raw in zip(steps, result["decisions"], strict=False):
        outcome = decode(raw, call_text(key, cost))
        outcomes.append(outcome)
        story.say(f"t={at:.6g}: {call_text(key, cost)} → {outcome.words()}")
    if result["raised"] is not None:
        at, key, cost = steps[len(outcomes)]
        raised = result["raised"]
        story.say(
            f"t={at:.6g}: {call_text(key, cost)} raised {raised['type']}: {raised['message']}"
        )
        raise AssertionError(
            f"{call_text(key, cost)} at t={at:.6g} raised {raised['type']}: {raised['message']}"
        )
    return outcomes


def judge_all(
    model: BucketModel,
    story: Story,
    steps: list[tuple[float, str, int | None]],
    outcomes: list[Outcome],
) -> None:
    """Fails at the first decision the model cannot explain."""
    for (at, key, cost), got in zip(steps, outcomes, strict=True):
        why = model.judge(key, 1 if cost is None else cost, at, got)
        if why is not None:
            story.say(f"↳ wrong at t={at:.6g}: {why}")
            raise AssertionError(f"t={at:.6g}: {call_text(key, cost)} was {got.words()}: {why}")
