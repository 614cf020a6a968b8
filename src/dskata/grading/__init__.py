"""The grading machinery: the API graders are written against, the pytest plugin, the runner.

Graders import only from here::

    from dskata.grading import Candidate, Story, check
    from dskata.grading import Mark, Span, Timeline   # to draw a counterexample
"""

from __future__ import annotations

from dskata.grading.api import Candidate as Candidate
from dskata.grading.api import Story as Story
from dskata.grading.api import check as check
from dskata.results import Mark as Mark
from dskata.results import Span as Span
from dskata.results import Timeline as Timeline
from dskata.sandbox.faults import CandidateRaised as CandidateRaised

__all__ = ["Candidate", "CandidateRaised", "Mark", "Span", "Story", "Timeline", "check"]
