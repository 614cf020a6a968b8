"""A correct limiter that tries to change the world outside its scratch folder: edit and
delete a file of the grader's, plant files beside the submissions and the reports, in
/tmp and in the kit's own graders."""

import os
from pathlib import Path

__hostile__ = {
    "attack": "writing outside the scratch folder",
    "base": "reference",
    "expect": "passed",
    "leaks": {"degraded": ["files"]},
}

_canary = Path("@@CANARY@@")
_attempts = [
    lambda: (_canary / "victim.txt").write_text("overwritten"),
    lambda: (_canary / "planted.txt").write_text("planted"),
    lambda: os.chmod(_canary, 0o777),
    lambda: (_canary / "victim.txt").unlink(),
    lambda: (Path("@@OUT@@") / "planted.txt").write_text("planted"),
    lambda: (Path("@@REPO@@") / "graders" / "rate_limiter" / "planted.txt").write_text("x"),
    lambda: Path("/tmp/dskata-hostile-planted.txt").write_text("planted"),
]
for _attempt in _attempts:
    try:
        _attempt()
    except OSError:
        pass
