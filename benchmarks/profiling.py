"""A pyinstrument profile of a contender, printed when the reference loses to a library.

pyinstrument (a statistical profiler that understands async code) rather than cProfile:
its call tree shows where the time of one whole run went, with the tracing overhead of
cProfile left out, which would distort a comparison of tight loops.
"""

from __future__ import annotations

from pathlib import Path

from .common import missing
from .timing import Contender

SHOWN_LINES = 40


def profile(contender: Contender, out_dir: Path, tag: str) -> None:
    if gone := missing("pyinstrument"):
        print(f"  profile of {contender.name}: not installed ({', '.join(gone)})")
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    contender.run()
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"profile-{tag}.txt"
    path.write_text(text)
    lines = [line for line in text.splitlines() if line.strip()]
    print(f"  profile of {contender.name} (pyinstrument; whole tree in {path}):")
    for line in lines[:SHOWN_LINES]:
        print(f"    {line}")
    if len(lines) > SHOWN_LINES:
        print(f"    … {len(lines) - SHOWN_LINES} more lines in {path}")
