"""A wrong limiter that monkeypatches everything a test framework leans on, in its own
process: pytest, hypothesis, unittest, AssertionError, and the kit's driver."""

import builtins
import sys
import unittest

__hostile__ = {"attack": "monkeypatching pytest, hypothesis, unittest, builtins and the driver", "base": "always_allow", "expect": "failed"}


class _Never(Exception):
    pass


builtins.AssertionError = _Never  # type: ignore[misc]
unittest.TestCase.assertEqual = lambda *a, **k: None  # type: ignore[method-assign]
try:
    import _pytest.outcomes
    import hypothesis
    import pytest

    pytest.fail = lambda *a, **k: None  # type: ignore[assignment]
    _pytest.outcomes.fail = lambda *a, **k: None  # type: ignore[assignment]
    hypothesis.given = lambda *a, **k: (lambda f: f)  # type: ignore[assignment]
except ImportError:
    pass
driver = sys.modules.get("_dskata_driver")
if driver is not None:
    driver.describe_exception = lambda exc: {"type": "Fine", "mro": ["Fine"], "message": ""}
