"""Writing report files so a reader never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` via a sibling temporary file and a rename.

    A crash mid-write leaves the previous file (or none), never a truncated report
    that ``dskata compare`` would later choke on. The temporary file is opened with
    ``open(..., "x")`` so it gets the usual umask-derived permissions, unlike mkstemp's 0600.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
