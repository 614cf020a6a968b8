"""The grading machinery: the API graders are written against, the pytest plugin, the runner.

Graders import only from here::

    from dskata.grading import Candidate, Story, check
"""

from __future__ import annotations

from dskata.grading.api import Candidate as Candidate
from dskata.grading.api import Story as Story
from dskata.grading.api import check as check
from dskata.sandbox.faults import CandidateRaised as CandidateRaised

__all__ = ["Candidate", "CandidateRaised", "Story", "check"]
