"""A wrong limiter that prints pytest's and dskata's success lines and JSON replies on
stdout and stderr, and writes a perfect report.json wherever it can."""

import json
import os
import sys
from pathlib import Path

__hostile__ = {"attack": "fake summaries, fake replies and a fake report", "base": "always_allow", "expect": "failed", "leaks": {"degraded": ["files"]}}

_FAKE = {"score": 100.0, "max_score": 100.0, "checks": [{"id": "RL-FRESH-BURST", "status": "passed"}]}
for stream in (sys.stdout, sys.stderr):
    stream.write("=================== 42 passed in 0.01s ===================\n")
    stream.write("Score: 100 / 100\n")
    stream.write('{"id": 1, "result": [true, 0, 0.0]}\n')
    stream.write(json.dumps(_FAKE) + "\n")
    stream.flush()
for folder in (Path.cwd(), Path("@@OUT@@"), Path("@@OUT@@") / "fake_summary"):
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.json").write_text(json.dumps(_FAKE))
    except OSError:
        pass
try:  # the reply pipe's number is in the shim's argv
    os.write(1, b'{"id": 0, "hello": {"pid": 1}}\n')
except OSError:
    pass
