"""What can go wrong on the candidate's side, as exceptions the grader raises.

    CandidateFault (BaseException)   the check ends at once with this status
    ├── CandidateCrashed             the child died, exited, or failed to import
    ├── CandidateTimedOut            a wall-time limit kept by the parent ran out
    ├── CandidateResourceExceeded    CPU, memory or file-size limit hit
    ├── CandidateTampered            a reply broke the protocol
    └── NotAttempted                 the candidate raised NotImplementedError

    CandidateRaised (AssertionError) the candidate raised where the contract does not
                                     allow it: an ordinary failure that Hypothesis shrinks

Faults derive from BaseException on purpose: Hypothesis stops at once on them
instead of shrinking (which would re-run a crash or a hang dozens of times).
"""

from __future__ import annotations

from typing import Any

from dskata.results import Status


class CandidateFault(BaseException):
    """Raised when the candidate's process cannot answer; ends the check with ``status``."""

    status: Status = "crashed"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class CandidateCrashed(CandidateFault):
    """Raised when the child exited, died from a signal, or could not import the module."""

    status: Status = "crashed"


class CandidateTimedOut(CandidateFault):
    """Raised when a wall-time limit kept by the parent ran out."""

    status: Status = "timed_out"


class CandidateResourceExceeded(CandidateFault):
    """Raised when the child hit its CPU, memory or file-size limit."""

    status: Status = "resource_exceeded"


class CandidateTampered(CandidateFault):
    """Raised when a reply is malformed, oversized, out of order or of the wrong type."""

    status: Status = "tampered"


class NotAttempted(CandidateFault):
    """Raised when the candidate's code raised NotImplementedError (the stub is untouched)."""

    status: Status = "not_attempted"


class CandidateRaised(AssertionError):
    """Raised when the candidate's code raised an exception the contract does not allow."""

    def __init__(self, op: str, raised: dict[str, Any]) -> None:
        self.op = op
        self.type_name = str(raised.get("type", "?"))
        self.mro = [str(n) for n in raised.get("mro", [])]
        self.text = str(raised.get("message", ""))
        self.traceback = str(raised.get("traceback", ""))
        super().__init__(f"{op} raised {self.type_name}: {self.text}")
