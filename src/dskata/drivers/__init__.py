"""Kit code that runs inside the sandboxed child, next to the candidate's module.

A driver module defines ``class Driver`` whose ``op_<name>`` methods the shim
calls with JSON arguments; each returns JSON data. Drivers are not trusted by the
grader: whatever they return is validated in the parent like any other reply.
"""

from __future__ import annotations

from pathlib import Path


def driver_path(slug: str) -> Path:
    """Returns the driver file for an exercise."""
    return Path(__file__).with_name(f"{slug}.py")
