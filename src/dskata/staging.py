"""Turns a submission (folder, .zip, .tar.gz/.tgz, or one module file) into a scratch copy.

Archives are hostile input: every member name, type and size is checked before
a byte is written, and bytes are counted while they are written because
declared sizes can lie. Only the staged copy under ``scratch/submission`` is
ever handed to the grader.

The exercise's support modules (``support`` in exercise.toml, e.g. the kit's
``messaging.py``) are the kit's, not the candidate's: a candidate's copy is never
staged, and the kit's own copy is put beside the module afterwards, so the graded
code imports exactly what the grader's driver expects (same classes, same faults).
The submission's sha256 covers the candidate's files only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from dskata.catalog import Exercise, get_exercise
from dskata.errors import BadParts, BadSubmission, KitError, SubmissionNotFound, UsageError
from dskata.workspace import MANIFEST_NAME, Manifest, content_file, read_manifest

MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 5_000
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_JUNK_BYTES = 1024 * 1024
_CHUNK = 64 * 1024
_HEADER_ROOM = 16 * 1024 * 1024
# `pip install .` in a workspace leaves build/ and *.egg-info/ behind: byproducts, not code.
_SKIP_DIRS = frozenset(
    {"__pycache__", "venv", "site-packages", "node_modules", "__MACOSX", "build"}
)
# Compiled code would be imported instead of (or besides) the source and dodge the hash.
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib")
_TEXT_SUFFIXES = frozenset({".py", ".pyi", ".md", ".txt", ".rst", ".toml", ".cfg", ".ini", ".json"})
_TOO_BIG = "too large (limits: 16 MiB a file, 64 MiB in all, 5000 files)"
# tarfile's "data" filter arrived in 3.11.4; our own checks below hold without it.
_DATA_FILTER = getattr(tarfile, "data_filter", None)
_FILTER_ERRORS: tuple[type[Exception], ...] = (
    (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()
)


@dataclass(frozen=True)
class Staged:
    """A submission copied into scratch, ready for the grader."""

    exercise: Exercise
    parts: tuple[int, ...] | None
    root: Path
    module_path: Path
    label: str
    sha256: str
    own_test_files: tuple[Path, ...]
    manifest: Manifest | None


def stage_submission(path: Path, scratch: Path, *, exercise_slug: str | None) -> Staged:
    """Copies the submission at ``path`` into ``scratch/submission`` and describes it.

    Returns the Staged copy. Raised when…
    - ``path`` does not exist: SubmissionNotFound;
    - the file type is unsupported, an archive is broken, truncated or unsafe,
      or the exercise's module is missing: BadSubmission;
    - no exercise is known (no ``--exercise``, no manifest), or ``--exercise``
      disagrees with the manifest: UsageError;
    - the slug is not in the catalog: UnknownExercise;
    - ``scratch/submission`` already exists: KitError.
    """
    if not path.exists():
        raise SubmissionNotFound(f"submission not found: {path}")
    dest = scratch / "submission"
    if dest.exists() or (scratch / "unpacked").exists():
        raise KitError(f"scratch folder {scratch} already holds a submission")
    name = path.name.lower()
    if path.is_dir():
        return _stage_folder(path, path.resolve().name, dest, exercise_slug, "the workspace")
    if name.endswith(".py"):
        return _stage_module(path, dest, exercise_slug)
    if name.endswith((".zip", ".tar.gz", ".tgz")):
        unpacked = scratch / "unpacked"
        unpacked.mkdir(parents=True)
        try:
            _unzip(path, unpacked) if name.endswith(".zip") else _untar(path, unpacked)
            label = re.sub(r"(\.zip|\.tar\.gz|\.tgz)$", "", path.name, flags=re.IGNORECASE)
            return _stage_folder(_top(unpacked), label, dest, exercise_slug, "the archive")
        finally:
            # The raw extraction holds excluded files; only the filtered copy may remain.
            shutil.rmtree(unpacked, ignore_errors=True)
    raise BadSubmission(
        f"{path.name}: unsupported submission; give a folder, .zip, .tar.gz/.tgz or a .py module"
    )


def _stage_module(path: Path, dest: Path, exercise_slug: str | None) -> Staged:
    if exercise_slug is None:
        raise UsageError(f"{path.name} is a single module; pass --exercise SLUG")
    exercise = get_exercise(exercise_slug)
    if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        raise BadSubmission(f"{path.name}: not a regular file of at most 16 MiB")
    # Renamed to the contract's module name: the grader imports it by that name.
    target = dest / exercise.module
    target.parent.mkdir(parents=True)
    shutil.copyfile(path, target)
    digest = _digest(dest)
    add_support_files(exercise, dest)
    return Staged(exercise, None, dest, target, path.name, digest, (), None)


def _stage_folder(
    src: Path, label: str, dest: Path, exercise_slug: str | None, where: str
) -> Staged:
    manifest = read_manifest(src)
    if manifest and exercise_slug and manifest.exercise != exercise_slug:
        raise UsageError(
            f"--exercise {exercise_slug} disagrees with {label}'s manifest"
            f" ({manifest.exercise}); drop --exercise or check the submission"
        )
    slug = exercise_slug or (manifest.exercise if manifest else None)
    if slug is None:
        raise UsageError(
            f"{label} has no {MANIFEST_NAME} naming its exercise; pass --exercise SLUG"
        )
    exercise = get_exercise(slug)
    parts = None
    if manifest:
        try:
            parts = exercise.check_parts(manifest.parts)
        except BadParts as exc:
            raise BadSubmission(f"{label}'s manifest: {exc}") from None
    module = src / exercise.module
    if module.is_symlink():
        raise BadSubmission(f"{label}: {exercise.module} is a symlink; submit the file itself")
    if not module.is_file():
        hint = next((str(p.relative_to(src)) for p in src.rglob(exercise.module)), None)
        found = f" (found {hint}; put it at the top)" if hint else ""
        raise BadSubmission(f"{label}: no {exercise.module} at the top of {where}{found}")
    try:
        _copy_candidate_files(src, dest, exercise)
        digest = _digest(dest)
        add_support_files(exercise, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # no half-staged copy may reach a grader
        raise
    public = {PurePosixPath(t) for p in exercise.parts for t in p.public_tests}
    own = tuple(
        p
        for p in _py_files(dest)
        if (p.name.startswith("test_") or p.name.endswith("_test.py"))
        and PurePosixPath(p.relative_to(dest).as_posix()) not in public
    )
    return Staged(exercise, parts, dest, dest / exercise.module, label, digest, own, manifest)


def add_support_files(exercise: Exercise, dest: Path) -> None:
    """Copies the kit's support modules of ``exercise`` into the staged folder ``dest``.

    Called once the candidate's files are in (their copies of these were skipped), so
    the kit's copy is the only one. Raised when the kit lacks one: KitError.
    """
    for rel in exercise.support:
        target = dest / PurePosixPath(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(content_file(exercise.exercise_dir, rel), target)


def stage_kit_module(exercise: Exercise, module: Path, scratch: Path) -> Path:
    """Stages one of the kit's own modules (reference, stub, mutant) as a submission.

    Returns the staged module's path: ``module`` copied under the contract's name with
    the support modules beside it, exactly as ``dskata grade module --exercise`` stages it.
    """
    return _stage_module(module, scratch / "submission", exercise.slug).module_path


def _copy_candidate_files(src: Path, dest: Path, exercise: Exercise) -> None:
    """Copies what the grader may see, skipping kit copies, caches, envs and big junk."""
    support = {PurePosixPath(s) for s in exercise.support}
    # A package folder ``messaging/`` (or a ``messaging.pyi``…) would shadow the kit's
    # ``messaging.py`` at import: anything named like a support module is the kit's.
    shadows = {p.with_suffix("") for p in support if p.suffix == ".py"}
    count = total = 0
    dest.mkdir(parents=True)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        # A dot-folder, cache or virtualenv is never the candidate's code.
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in _SKIP_DIRS
            and not d.endswith(".egg-info")
            and not (here / d).is_symlink()
            and (here / d).resolve() != dest.parent.resolve()
            and PurePosixPath((here / d).relative_to(src).as_posix()) not in shadows
        )
        for fname in sorted(filenames):
            file = here / fname
            rel = PurePosixPath(file.relative_to(src).as_posix())
            # Support modules and conftest.py come from the kit; the candidate's
            # copies could rewire the grader's imports or pytest itself.
            if (
                rel in support
                or rel.with_suffix("") in shadows
                or fname == "conftest.py"
                or fname.endswith(_SKIP_SUFFIXES)
            ):
                continue
            info = file.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            if info.st_size > MAX_JUNK_BYTES and file.suffix.lower() not in _TEXT_SUFFIXES:
                continue
            count, total = count + 1, total + info.st_size
            if info.st_size > MAX_FILE_BYTES or count > MAX_MEMBERS or total > MAX_TOTAL_BYTES:
                raise BadSubmission(f"{src.name}: {_TOO_BIG}")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)


def _py_files(root: Path) -> list[Path]:
    """Returns the .py files under ``root`` (not folders named so), sorted by relative path."""
    files = [p for p in root.rglob("*.py") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _digest(root: Path) -> str:
    """Returns the sha256 over the staged .py files: sorted relative paths and their bytes."""
    h = hashlib.sha256()
    for file in _py_files(root):
        data = file.read_bytes()
        h.update(f"{file.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _top(unpacked: Path) -> Path:
    """Returns the workspace inside an extracted archive: its root or its one top folder."""
    entries = [e for e in unpacked.iterdir() if not e.name.startswith(".") and e.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def _safe_name(name: str, archive: Path) -> PurePosixPath | None:
    """Returns the member's relative path (None for the root entry); raises for unsafe names."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if "\0" in name or pure.is_absolute() or re.match(r"[A-Za-z]:", name):
        raise BadSubmission(f"{archive.name}: unsafe absolute path {name!r} in the archive")
    if ".." in pure.parts:
        raise BadSubmission(f"{archive.name}: unsafe path {name!r} (..) in the archive")
    parts = [p for p in pure.parts if p != "."]
    return PurePosixPath(*parts) if parts else None


class _Budget:
    """Counts members and bytes across one archive, declared and actual."""

    def __init__(self, archive: Path) -> None:
        self.archive, self.members, self.declared, self.total = archive, 0, 0, 0

    def member(self, declared: int) -> None:
        """Raised when the entry count or the declared sizes pass a limit: BadSubmission."""
        self.members += 1
        self.declared += declared
        if (
            self.members > MAX_MEMBERS
            or declared > MAX_FILE_BYTES
            or self.declared > MAX_TOTAL_BYTES
        ):
            raise BadSubmission(f"{self.archive.name}: {_TOO_BIG}")

    def write(self, stream: IO[bytes], target: Path, unpacked: Path) -> None:
        """Copies one entry, counting real bytes: declared sizes can lie."""
        if not target.resolve().is_relative_to(unpacked.resolve()):
            raise BadSubmission(f"{self.archive.name}: an entry escapes the extraction folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with open(target, "wb") as out:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                written += len(chunk)
                self.total += len(chunk)
                if written > MAX_FILE_BYTES or self.total > MAX_TOTAL_BYTES:
                    raise BadSubmission(f"{self.archive.name}: {_TOO_BIG}")
                out.write(chunk)


def _unzip(archive: Path, unpacked: Path) -> None:
    budget = _Budget(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                budget.member(info.file_size)
                mode = info.external_attr >> 16
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise BadSubmission(f"{archive.name}: {info.filename!r} is a link or device")
                if info.flag_bits & 0x1:
                    raise BadSubmission(f"{archive.name}: encrypted entries are not supported")
                rel = _safe_name(info.filename, archive)
                if rel is None or info.is_dir():
                    (unpacked / (rel or ".")).mkdir(parents=True, exist_ok=True)
                    continue
                with zf.open(info) as stream:
                    budget.write(stream, unpacked / rel, unpacked)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise BadSubmission(f"{archive.name}: broken or truncated zip ({exc})") from None


class _CappedGzip(gzip.GzipFile):
    """A gzip reader that refuses to decompress much more than the archive limits allow."""

    decompressed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.decompressed += len(data)
        # Headers and padding need room beyond the members' bytes; pax headers need no more.
        if self.decompressed > MAX_TOTAL_BYTES + _HEADER_ROOM:
            raise BadSubmission(f"{Path(str(self.name)).name}: {_TOO_BIG}")
        return data


def _untar(archive: Path, unpacked: Path) -> None:
    budget = _Budget(archive)
    try:
        # Stream mode ("r|") sends every decompressed byte, headers and padding
        # included, through _CappedGzip.read; iterating refuses a huge index early.
        with _CappedGzip(archive, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tf:
            for member in tf:
                budget.member(member.size)
                if not (member.isreg() or member.isdir()):
                    raise BadSubmission(f"{archive.name}: {member.name!r} is a link or device")
                rel = _safe_name(member.name, archive)
                if _DATA_FILTER is not None:  # a second opinion on top of our own checks
                    _DATA_FILTER(member, str(unpacked))
                if rel is None or member.isdir():
                    (unpacked / (rel or ".")).mkdir(parents=True, exist_ok=True)
                    continue
                stream = tf.extractfile(member)
                if stream is None:
                    raise BadSubmission(f"{archive.name}: unreadable entry {member.name!r}")
                with stream:
                    budget.write(stream, unpacked / rel, unpacked)
    except _FILTER_ERRORS as exc:
        raise BadSubmission(f"{archive.name}: unsafe entry ({exc})") from None
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise BadSubmission(f"{archive.name}: broken or truncated archive ({exc})") from None
