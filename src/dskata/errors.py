"""Exceptions the kit raises towards its users.

DskataError                 root; ``exit_code`` is what the CLI exits with
├── UsageError              the user asked for something impossible (exit 2)
│   ├── UnknownExercise
│   ├── SubmissionNotFound
│   ├── BadSubmission       a broken archive, an archive with no module, …
│   ├── BadParts
│   └── UnknownSeedProfile
└── KitError                the kit itself failed (exit 3); never the candidate's fault
    └── SandboxUnavailable
"""

from __future__ import annotations


class DskataError(Exception):
    """Root of every error the kit reports to a user."""

    exit_code = 3


class UsageError(DskataError):
    """Raised when the user's request cannot be carried out as asked."""

    exit_code = 2


class UnknownExercise(UsageError):
    """Raised when an exercise slug is not in the catalog."""


class SubmissionNotFound(UsageError):
    """Raised when the submission path does not exist."""


class BadSubmission(UsageError):
    """Raised when a submission cannot be staged (broken archive, no module, unsafe entries)."""


class BadParts(UsageError):
    """Raised when ``--parts`` names parts the exercise does not have."""


class UnknownCheck(UsageError):
    """``--check`` named an id the exercise's graders do not have."""


class UnknownSeedProfile(UsageError):
    """Raised when a seed profile does not exist or cannot be read."""


class KitError(DskataError):
    """Raised when the kit itself failed; the candidate is never charged for it."""

    exit_code = 3


class SandboxUnavailable(KitError):
    """Raised when no child process could be started for the candidate."""
