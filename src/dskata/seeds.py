"""Seed profiles: every candidate of a hiring cycle faces the same generated cases.

A profile is a small TOML file (``name``, ``seed``). The shipped ``default``
lives in ``seeds/``; ``dskata seeds new NAME`` writes a private one for a cycle.
``--seeds`` takes a profile name or a path to a profile file.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dskata.catalog import content_root
from dskata.errors import UnknownSeedProfile, UsageError


@dataclass(frozen=True)
class SeedProfile:
    name: str
    seed: int
    sha256: str
    path: Path


def user_seeds_dir() -> Path:
    """Where private profiles are written and looked up (``DSKATA_SEEDS_DIR`` overrides)."""
    override = os.environ.get("DSKATA_SEEDS_DIR")
    if override:
        return Path(override)
    return Path.home() / ".local" / "share" / "dskata" / "seeds"


def _candidates(name: str) -> list[Path]:
    return [content_root() / "seeds" / f"{name}.toml", user_seeds_dir() / f"{name}.toml"]


def load_profile(name_or_path: str) -> SeedProfile:
    """Returns a profile by name or path; raises UnknownSeedProfile when none matches."""
    as_path = Path(name_or_path)
    paths = [as_path] if as_path.suffix == ".toml" else _candidates(name_or_path)
    for path in paths:
        if path.is_file():
            raw = path.read_bytes()
            try:
                data = tomllib.loads(raw.decode("utf-8"))
                seed = int(data["seed"])
                name = str(data.get("name", path.stem))
            except (ValueError, KeyError, UnicodeDecodeError) as exc:
                raise UnknownSeedProfile(f"seed profile {path} is malformed: {exc}") from None
            return SeedProfile(name, seed, hashlib.sha256(raw).hexdigest(), path)
    looked = ", ".join(str(p) for p in paths)
    raise UnknownSeedProfile(f"no seed profile {name_or_path!r} (looked in {looked})")


def new_profile(name: str, directory: Path | None = None) -> SeedProfile:
    """Writes a fresh random profile; raises UsageError if one of that name exists."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"profile name {name!r} must be letters, digits, - or _")
    target = (directory or user_seeds_dir()) / f"{name}.toml"
    if target.exists() or any(p.is_file() for p in _candidates(name)):
        raise UsageError(f"seed profile {name!r} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    target.write_text(
        f'name = "{name}"\nseed = {secrets.randbits(63)}\ncreated_at = "{created}"\n',
        encoding="utf-8",
    )
    return load_profile(str(target))
