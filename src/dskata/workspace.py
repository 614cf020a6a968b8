"""Writes a candidate workspace from ``exercises/<slug>`` and reads its manifest back.

A workspace is built by whitelist: only the statement, the stub, the support
modules, the public tests of the assigned parts (plus ``tests/conftest.py``), two
generated files, and — when an assigned part needs Redis — the kit's own
``redis_server.py`` so the public tests can find or start one. Nothing is ever read
from ``graders/``, ``reference_solutions/`` or ``seeds/``, so a content mistake
there cannot leak.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import dskata
from dskata import redis_server
from dskata.catalog import Exercise
from dskata.errors import BadSubmission, KitError, UsageError

MANIFEST_NAME = "dskata.toml"
# The manifest is a handful of lines; anything bigger is not ours.
_MANIFEST_MAX_BYTES = 64 * 1024
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Part markers: ``<!-- part N -->`` in Markdown, ``# [part N]`` in the Python stub.
_OPEN_RE = re.compile(r"\s*(?:<!--\s*part\s+(\d+)\s*-->|#\s*\[part\s+(\d+)\])\s*")
_CLOSE_RE = re.compile(r"\s*(?:<!--\s*end\s+part\s+(\d+)\s*-->|#\s*\[end\s+part\s+(\d+)\])\s*")


@dataclass(frozen=True)
class Manifest:
    """What ``dskata.toml`` in a workspace says was handed to the candidate."""

    exercise: str
    exercise_version: str
    parts: tuple[int, ...]
    kit_version: str
    created_at: str = ""


def start_workspace(exercise: Exercise, dest: Path, parts: tuple[int, ...]) -> Path:
    """Writes the candidate workspace for ``exercise`` and ``parts`` into ``dest``.

    Returns the workspace folder (``dest``). Raised when…
    - ``dest`` exists and is not an empty directory: UsageError;
    - ``parts`` names parts the exercise lacks (or none): BadParts;
    - the exercise content names a file that is missing or outside its folder: KitError.
    """
    parts = exercise.check_parts(parts)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} already exists and is not empty; choose a new folder")
    files = _workspace_files(exercise, parts)
    dest.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest


def _workspace_files(exercise: Exercise, parts: tuple[int, ...]) -> dict[str, bytes]:
    """Returns every file of the workspace as relative POSIX path → bytes."""
    src = exercise.exercise_dir
    files: dict[str, bytes] = {}
    readme = content_file(src, "README.md")
    files["README.md"] = filter_statement(readme.read_text(encoding="utf-8"), parts).encode()
    # The stub is filtered like the statement: an unassigned part's classes stay out.
    stub = content_file(src, exercise.module).read_text(encoding="utf-8")
    files[PurePosixPath(exercise.module).as_posix()] = filter_statement(stub, parts).encode()
    wanted = [*exercise.support]
    for part in exercise.parts:
        if part.number in parts:
            wanted.extend(part.public_tests)
    if (src / "tests" / "conftest.py").is_file():
        wanted.append("tests/conftest.py")
    for rel in wanted:
        files[PurePosixPath(rel).as_posix()] = content_file(src, rel).read_bytes()
    if any("redis" in p.services for p in exercise.parts if p.number in parts):
        files["tests/redis_server.py"] = Path(redis_server.__file__).read_bytes()
    files["pyproject.toml"] = _pyproject(exercise, parts).encode()
    files[MANIFEST_NAME] = _manifest_text(exercise, parts).encode()
    return files


def content_file(src: Path, rel: str) -> Path:
    """Returns ``src/rel`` after checking it is a regular file inside ``src``."""
    pure = PurePosixPath(rel)
    # exercise.toml is kit content, but a stray "../graders/x" must never pull hidden files in.
    if pure.is_absolute() or ".." in pure.parts:
        raise KitError(f"exercise file {rel!r} must be a relative path inside {src}")
    path = src / pure
    if not path.is_file() or not path.resolve().is_relative_to(src.resolve()):
        raise KitError(f"exercise file {rel!r} is missing from {src}")
    return path


def filter_statement(text: str, parts: tuple[int, ...]) -> str:
    """Returns the statement keeping only the assigned parts' sections.

    Text outside markers is kept; text between ``<!-- part N -->`` and
    ``<!-- end part N -->`` is kept only when N is assigned; marker lines are
    dropped. Raised when markers are unbalanced: KitError.
    """
    out: list[str] = []
    open_parts: list[int] = []
    dropped = False
    for line in text.splitlines(keepends=True):
        if m := _OPEN_RE.fullmatch(line):
            open_parts.append(int(m[1] or m[2]))
            continue
        if m := _CLOSE_RE.fullmatch(line):
            number = int(m[1] or m[2])
            if not open_parts or open_parts[-1] != number:
                raise KitError(f"statement marker 'end part {number}' does not close an open part")
            open_parts.pop()
            continue
        if not all(p in parts for p in open_parts):
            dropped = True
            continue
        # Dropping a section leaves its surrounding blank lines back to back; keep one.
        if dropped and not line.strip() and out and not out[-1].strip():
            continue
        dropped = False
        out.append(line)
    if open_parts:
        raise KitError(f"statement marker 'part {open_parts[-1]}' is never closed")
    return "".join(out)


def _toml_str(value: str) -> str:
    """Returns ``value`` as a TOML basic string (quotes, backslashes, controls escaped)."""
    escaped = []
    for ch in value:
        if ch in '"\\':
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04X}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def _toml_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def _pyproject(exercise: Exercise, parts: tuple[int, ...]) -> str:
    dependencies = list(exercise.candidate_dependencies)
    for part in exercise.parts:
        if part.number in parts:
            dependencies += [d for d in part.dependencies if d not in dependencies]
    return f"""\
# Generated by dskata {dskata.__version__} for the exercise {exercise.slug!s}.
# `pip install .` installs the test dependencies only: the module you edit is
# imported from this folder, never installed.
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = {_toml_str("dskata-workspace-" + exercise.slug)}
version = "0"
requires-python = ">=3.11"
dependencies = {_toml_list(tuple(dependencies))}

[tool.setuptools]
py-modules = []
packages = []

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
"""


def _manifest_text(exercise: Exercise, parts: tuple[int, ...]) -> str:
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    return f"""\
# Written by `dskata start`; the grader reads it to know what was assigned. Leave it as is.
exercise = {_toml_str(exercise.slug)}
exercise_version = {_toml_str(exercise.version)}
parts = [{", ".join(str(p) for p in parts)}]
kit_version = {_toml_str(dskata.__version__)}
created_at = {_toml_str(created)}
"""


def read_manifest(folder: Path) -> Manifest | None:
    """Returns the manifest of the workspace ``folder``, or None when it has no ``dskata.toml``.

    Raised when the file is unreadable, not TOML, too large, or has missing or
    ill-typed fields: BadSubmission.
    """
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > _MANIFEST_MAX_BYTES:
            raise BadSubmission(f"{path}: manifest is too large to be a dskata manifest")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadSubmission(f"{path}: malformed manifest ({exc})") from None

    def text(key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise BadSubmission(f"{path}: malformed manifest ({key!r} must be a non-empty string)")
        return value

    slug = text("exercise")
    # The slug later becomes a path under exercises/; a hostile manifest must not steer it.
    if not _SLUG_RE.fullmatch(slug):
        raise BadSubmission(f"{path}: malformed manifest (exercise {slug!r} is not a slug)")
    raw_parts = data.get("parts")
    if (
        not isinstance(raw_parts, list)
        or not raw_parts
        or not all(type(p) is int and p >= 1 for p in raw_parts)
    ):
        raise BadSubmission(f"{path}: malformed manifest ('parts' must be a list like [1, 2])")
    created = data.get("created_at", "")
    return Manifest(
        exercise=slug,
        exercise_version=text("exercise_version"),
        parts=tuple(sorted(set(raw_parts))),
        kit_version=text("kit_version"),
        created_at=created if isinstance(created, str) else str(created),
    )
