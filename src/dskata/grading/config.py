"""The hand-off from the grading command to the pytest session that runs the graders."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class SessionConfig:
    exercise: str
    parts: list[int]
    module_path: str
    module_name: str
    submission_root: str
    reference_path: str
    driver_path: str
    scratch: str
    seed: int
    checks: list[str] | None
    results_path: str
    progress_path: str
    replay_base: str
    launcher: str = "subprocess"
    # With several sessions, each runs the selected checks it claims first in claims_dir.
    shard_index: int = 0
    shard_count: int = 1
    claims_dir: str = ""

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> SessionConfig:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def check_seed(profile_seed: int, check_id: str) -> int:
    """Returns the seed of one check: stable for a profile, different for every check."""
    digest = hashlib.sha256(f"{profile_seed}:{check_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
