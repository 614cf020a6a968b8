"""An asyncio event loop on a virtual clock that jumps to the next timer when every task waits.

looptime does this, and the issue named it; but installing looptime 0.9 (the latest)
registers pytest plugins that break every pytest run in that environment unless
pytest-asyncio is installed too (an AttributeError in fixture setup, measured on this
machine). The kit is installed where interviewers and candidates run pytest, so it
carries the few lines it needs instead: ``time()`` returns the virtual clock, and the
selector never sleeps — a wait of ``t`` seconds moves the clock by ``t`` and polls.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """``loop.time()`` starts at 0 and moves only while every task waits for a timer."""

    def __init__(self) -> None:
        super().__init__()
        self._virtual_now = 0.0
        selector: selectors.BaseSelector = self._selector  # type: ignore[attr-defined]
        real_select = selector.select

        def select(timeout: float | None = None) -> list[tuple[Any, int]]:
            # None: no timer at all, so nothing but I/O can wake the loop; wait for it for real.
            if timeout is not None and timeout > 0:
                self._virtual_now += timeout
                timeout = 0
            return real_select(timeout)

        selector.select = select  # type: ignore[method-assign]

    def time(self) -> float:
        return self._virtual_now
