"""What a grader module sees: the ``check`` marker, the candidate handle, the story.

A check is a pytest test tagged ``@check(id, part=…, dimension=…, points=…, title=…)``.
It talks to the candidate through ``Candidate`` (a sandboxed child process) and
tells what happened in plain words through ``Story``; when the check fails, the
story of the (shrunk) failing example becomes the report's evidence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from dskata.catalog import DIMENSIONS
from dskata.results import Timeline
from dskata.sandbox.child import Child, Reply, raise_for_raised
from dskata.sandbox.faults import CandidateFault

DEFAULT_CALL_TIMEOUT_S = 5.0


def check(
    id: str,
    *,
    part: int,
    dimension: str,
    points: float,
    title: str,
    timeout: float = 60.0,
) -> pytest.MarkDecorator:
    """Tags a grader test as a scored check.

    Raises ValueError at import for an unknown dimension or non-positive points,
    so a mis-tagged grader fails loudly instead of scoring wrongly.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension={dimension!r} must be one of {DIMENSIONS}")
    if points <= 0:
        raise ValueError(f"points={points!r} must be positive")
    return pytest.mark.dskata_check(
        id=id, part=part, dimension=dimension, points=float(points), title=title, timeout=timeout
    )


@dataclass
class Story:
    """The plain-words account of one example: what was asked, what came back.

    A check may also ``draw`` the example as a ``Timeline`` (lanes over time); the
    report shows it as a diagram beside the words. Words stay the primary evidence.
    """

    lines: list[str] = field(default_factory=list)
    limit: int = 60
    timeline: Timeline | None = None

    def begin(self) -> None:
        """Starts a new example (Hypothesis runs many; the last one is the shrunk failure)."""
        self.lines.clear()
        self.timeline = None

    def draw(self, timeline: Timeline) -> None:
        """Sets the diagram of this example (the latest call wins)."""
        self.timeline = timeline

    def say(self, line: str) -> None:
        if len(self.lines) < self.limit:
            self.lines.append(line)
        elif len(self.lines) == self.limit:
            self.lines.append("… (story truncated)")


class Candidate:
    """A submission running in its own sandboxed child; every call has a wall-time limit."""

    def __init__(self, child: Child | None, deadline: float, fault: CandidateFault | None = None):
        self._child_or_none = child
        self._deadline = deadline
        self._fault = fault

    @classmethod
    def unavailable(cls, fault: CandidateFault) -> Candidate:
        """A submission that could not start: every call raises ``fault`` again.

        The fault surfaces in the check's body, not in fixture setup: pytest's fixture
        machinery is not built for BaseExceptions raised during setup.
        """
        return cls(None, 0.0, fault)

    @property
    def _child(self) -> Child:
        if self._child_or_none is None:
            fault = self._fault
            assert fault is not None
            raise type(fault)(fault.message, detail=fault.detail)
        return self._child_or_none

    def _timeout(self, timeout_s: float | None) -> float:
        budget = self._deadline - time.monotonic()
        return max(0.0, min(timeout_s or DEFAULT_CALL_TIMEOUT_S, budget))

    def call(self, op: str, *, timeout_s: float | None = None, **args: Any) -> Any:
        """Runs ``op`` in the child; the candidate raising is a failure (CandidateRaised)."""
        return self._child.call(op, args, timeout_s=self._timeout(timeout_s))

    def attempt(self, op: str, *, timeout_s: float | None = None, **args: Any) -> Reply:
        """Runs ``op``; returns the reply, with the candidate's exception in ``raised``.

        NotImplementedError, MemoryError and SystemExit still end the check.
        """
        reply = self._child.request(op, args, timeout_s=self._timeout(timeout_s))
        if reply.raised is not None and _is_fatal(reply.raised):
            raise_for_raised(op, reply.raised)
        return reply

    def kill(self) -> None:
        """Kills the candidate's process with SIGKILL at a moment the check chooses."""
        if self._child_or_none is not None:
            self._child_or_none.kill()

    def log_excerpt(self) -> str | None:
        return None if self._child_or_none is None else self._child_or_none.log_excerpt()


def _is_fatal(raised: dict[str, Any]) -> bool:
    names = set(raised.get("mro", [])) | {raised.get("type")}
    return bool(names & {"NotImplementedError", "MemoryError", "SystemExit", "KeyboardInterrupt"})


def raised_is(raised: dict[str, Any] | None, name: str) -> bool:
    """True when the candidate's exception is ``name`` or a subclass of it."""
    return raised is not None and name in raised.get("mro", [])
