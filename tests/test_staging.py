"""Tests for ``dskata.staging``: every submission shape, and hostile archives."""

from __future__ import annotations

import io
import shutil
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from dskata import catalog, staging
from dskata.catalog import Exercise, get_exercise
from dskata.errors import (
    BadSubmission,
    KitError,
    SubmissionNotFound,
    UnknownExercise,
    UsageError,
)
from dskata.grade import GradeRequest, grade
from dskata.staging import Staged, stage_submission
from dskata.workspace import MANIFEST_NAME, filter_statement, start_workspace

TOY_TOML = """\
slug = "toy"
title = "Toy"
version = "1.0.0"
module = "toy.py"
support = ["clock.py"]

[[parts]]
number = 1
title = "Add"
public_tests = ["tests/test_p1.py"]

[[parts]]
number = 2
title = "Subtract"
public_tests = ["tests/test_p2.py"]
"""
SOLUTION = "def add(a, b):\n    return a + b\n"
MiB = 1024 * 1024


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exercise:
    root = tmp_path / "content"
    files = {
        "exercise.toml": TOY_TOML,
        "README.md": "# Toy\n",
        "toy.py": "def add(a, b):\n    raise NotImplementedError\n",
        "clock.py": "NOW = 0\n",
        "tests/conftest.py": "",
        "tests/test_p1.py": "from toy import add\n\n\ndef test_add():\n    assert add(1, 1) == 2\n",
        "tests/test_p2.py": "def test_sub():\n    pass\n",
    }
    for rel, text in files.items():
        (root / "exercises/toy" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "exercises/toy" / rel).write_text(text, encoding="utf-8")
    monkeypatch.setattr(catalog, "content_root", lambda: root)
    return get_exercise("toy")


@pytest.fixture
def workspace(toy: Exercise, tmp_path: Path) -> Path:
    """A returned workspace: solved, with own tests, tampering and junk around it."""
    ws = start_workspace(toy, tmp_path / "alice", (1, 2))
    extra = {
        "toy.py": SOLUTION,
        "clock.py": "NOW = 'tampered'\n",
        "conftest.py": "raise SystemExit('candidate conftest ran')\n",
        "tests/conftest.py": "raise SystemExit('candidate conftest ran')\n",
        "tests/test_mine.py": "def test_mine():\n    pass\n",
        "helpers/util.py": "X = 1\n",
        "notes.md": "my notes\n",
        "__pycache__/toy.cpython-311.pyc": "junk",
        "stray.pyc": "junk",
        "toy.cpython-311-x86_64-linux-gnu.so": "native",
        ".venv/lib/site.py": "venv",
        "venv/lib/site.py": "venv",
        "build/lib/toy.py": "stale build copy",
        "dskata_workspace_toy.egg-info/PKG-INFO": "Name: x",
        ".git/config": "git",
    }
    for rel, text in extra.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text, encoding="utf-8")
    (ws / "big.bin").write_bytes(b"\0" * (MiB + 1))
    return ws


def files_of(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def make_zip(src: Path, out: Path, top: str | None = "alice") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(files_of(src)):
            zf.write(src / rel, f"{top}/{rel}" if top else rel)
    return out


def make_tar(src: Path, out: Path, top: str | None = "alice") -> Path:
    with tarfile.open(out, "w:gz") as tf:
        for rel in sorted(files_of(src)):
            tf.add(src / rel, f"{top}/{rel}" if top else rel)
    return out


def zip_with(out: Path, members: dict[str, bytes], **kw: int) -> Path:
    with zipfile.ZipFile(out, "w", kw.get("compression", zipfile.ZIP_DEFLATED)) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return out


def tar_with(out: Path, *members: tarfile.TarInfo, data: bytes = b"x = 1\n") -> Path:
    with tarfile.open(out, "w:gz") as tf:
        good = tarfile.TarInfo("alice/toy.py")
        good.size = len(SOLUTION)
        tf.addfile(good, io.BytesIO(SOLUTION.encode()))
        for member in members:
            if member.isreg():
                member.size = len(data)
                tf.addfile(member, io.BytesIO(data))
            else:
                tf.addfile(member)
    return out


def stage(path: Path, tmp_path: Path, slug: str | None = None, name: str = "scratch") -> Staged:
    return stage_submission(path, tmp_path / name, exercise_slug=slug)


def assert_nothing_escaped(tmp_path: Path) -> None:
    assert not list(tmp_path.rglob("evil*")), "a hostile entry was written"


# --- accepted shapes -------------------------------------------------------------------


def test_stages_workspace_folder(workspace: Path, tmp_path: Path) -> None:
    staged = stage(workspace, tmp_path)
    assert staged.exercise.slug == "toy"
    assert staged.parts == (1, 2)
    assert staged.manifest is not None and staged.manifest.exercise == "toy"
    assert staged.label == "alice"
    assert staged.root == tmp_path / "scratch" / "submission"
    assert staged.module_path == staged.root / "toy.py"
    assert staged.module_path.read_text() == SOLUTION


def test_staged_copy_excludes_conftest_caches_envs_and_junk(
    workspace: Path, tmp_path: Path
) -> None:
    assert files_of(stage(workspace, tmp_path).root) == {
        "toy.py",
        "clock.py",  # the kit's copy, not the candidate's (next test)
        "README.md",
        "pyproject.toml",
        MANIFEST_NAME,
        "notes.md",
        "helpers/util.py",
        "tests/test_p1.py",
        "tests/test_p2.py",
        "tests/test_mine.py",
    }


def test_candidates_support_module_is_replaced_by_the_kits_copy(
    toy: Exercise, workspace: Path, tmp_path: Path
) -> None:
    assert (workspace / "clock.py").read_text() == "NOW = 'tampered'\n"
    staged = stage(workspace, tmp_path)
    assert (staged.root / "clock.py").read_text() == "NOW = 0\n"


def test_a_package_or_stub_named_like_a_support_module_is_not_staged(
    workspace: Path, tmp_path: Path
) -> None:
    # A package folder wins over a module of the same name at import: it would shadow
    # the kit's clock.py for the grader's driver and the candidate's module alike.
    (workspace / "clock").mkdir()
    (workspace / "clock" / "__init__.py").write_text("NOW = 'shadowed'\n")
    (workspace / "clock.pyi").write_text("NOW: str\n")
    files = files_of(stage(workspace, tmp_path).root)
    assert "clock.py" in files
    assert not [f for f in files if f.startswith("clock/") or f == "clock.pyi"]


def test_support_modules_are_staged_beside_a_single_module(toy: Exercise, tmp_path: Path) -> None:
    module = tmp_path / "alice_solution.py"
    module.write_text(SOLUTION)
    staged = stage(module, tmp_path, slug="toy")
    assert files_of(staged.root) == {"toy.py", "clock.py"}
    assert (staged.root / "clock.py").read_text() == "NOW = 0\n"


def test_kit_module_is_staged_like_a_submission_with_its_support(
    toy: Exercise, tmp_path: Path
) -> None:
    mutant = tmp_path / "graders" / "mutants" / "no_add.py"
    mutant.parent.mkdir(parents=True)
    mutant.write_text(SOLUTION)
    staged = staging.stage_kit_module(toy, mutant, tmp_path / "scratch")
    assert staged == tmp_path / "scratch" / "submission" / "toy.py"
    assert staged.read_text() == SOLUTION
    assert (staged.parent / "clock.py").read_text() == "NOW = 0\n"


def test_missing_support_module_in_the_kit_is_kit_error(toy: Exercise, tmp_path: Path) -> None:
    (toy.exercise_dir / "clock.py").unlink()
    module = tmp_path / "alice_solution.py"
    module.write_text(SOLUTION)
    with pytest.raises(KitError, match=r"clock\.py"):
        stage(module, tmp_path, slug="toy")


def test_own_test_files_exclude_shipped_public_tests(workspace: Path, tmp_path: Path) -> None:
    staged = stage(workspace, tmp_path)
    assert staged.own_test_files == (staged.root / "tests" / "test_mine.py",)


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz", ".tgz"])
def test_stages_archive_with_one_top_folder(workspace: Path, tmp_path: Path, suffix: str) -> None:
    archive = tmp_path / f"alice-final{suffix}"
    (make_zip if suffix == ".zip" else make_tar)(workspace, archive)
    staged = stage(archive, tmp_path)
    assert staged.label == "alice-final"
    assert staged.parts == (1, 2)
    assert staged.module_path.read_text() == SOLUTION
    assert staged.sha256 == stage(workspace, tmp_path, name="again").sha256
    assert not (tmp_path / "scratch" / "unpacked").exists()


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_stages_archive_with_files_at_its_root(
    workspace: Path, tmp_path: Path, suffix: str
) -> None:
    archive = tmp_path / f"flat{suffix}"
    (make_zip if suffix == ".zip" else make_tar)(workspace, archive, top=None)
    assert stage(archive, tmp_path).module_path.read_text() == SOLUTION


def test_ignores_macos_resource_folder_when_finding_top(workspace: Path, tmp_path: Path) -> None:
    archive = make_zip(workspace, tmp_path / "mac.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("__MACOSX/alice/._toy.py", b"\0\0")
    assert stage(archive, tmp_path).module_path.read_text() == SOLUTION


def test_stages_single_module_under_the_contract_name(toy: Exercise, tmp_path: Path) -> None:
    module = tmp_path / "alice_solution.py"
    module.write_text(SOLUTION)
    staged = stage(module, tmp_path, slug="toy")
    assert staged.parts is None and staged.manifest is None
    assert staged.label == "alice_solution.py"
    assert staged.module_path == staged.root / "toy.py"
    assert staged.module_path.read_text() == SOLUTION
    assert staged.own_test_files == ()


def test_folder_without_manifest_is_staged_with_exercise_flag(
    workspace: Path, tmp_path: Path
) -> None:
    (workspace / MANIFEST_NAME).unlink()
    staged = stage(workspace, tmp_path, slug="toy")
    assert staged.parts is None and staged.manifest is None


def test_matching_exercise_flag_is_accepted(workspace: Path, tmp_path: Path) -> None:
    assert stage(workspace, tmp_path, slug="toy").parts == (1, 2)


# --- usage errors ------------------------------------------------------------------------


def test_missing_path_is_submission_not_found(toy: Exercise, tmp_path: Path) -> None:
    with pytest.raises(SubmissionNotFound):
        stage(tmp_path / "nowhere.zip", tmp_path)


def test_single_module_requires_exercise(toy: Exercise, tmp_path: Path) -> None:
    (tmp_path / "toy.py").write_text(SOLUTION)
    with pytest.raises(UsageError, match="--exercise SLUG"):
        stage(tmp_path / "toy.py", tmp_path)


def test_folder_without_manifest_requires_exercise(workspace: Path, tmp_path: Path) -> None:
    (workspace / MANIFEST_NAME).unlink()
    with pytest.raises(UsageError, match="--exercise SLUG"):
        stage(workspace, tmp_path)


def test_exercise_flag_disagreeing_with_manifest_is_usage_error(
    workspace: Path, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="disagrees"):
        stage(workspace, tmp_path, slug="rate_limiter")


def test_unknown_exercise_slug(toy: Exercise, tmp_path: Path) -> None:
    (tmp_path / "toy.py").write_text(SOLUTION)
    with pytest.raises(UnknownExercise):
        stage(tmp_path / "toy.py", tmp_path, slug="nope")


def test_manifest_naming_an_unknown_part_is_bad_submission(workspace: Path, tmp_path: Path) -> None:
    manifest = workspace / MANIFEST_NAME
    manifest.write_text(manifest.read_text().replace("parts = [1, 2]", "parts = [7]"))
    with pytest.raises(BadSubmission, match="part 7"):
        stage(workspace, tmp_path)


def test_unsupported_file_type_is_bad_submission(toy: Exercise, tmp_path: Path) -> None:
    (tmp_path / "alice.rar").write_bytes(b"Rar!")
    with pytest.raises(BadSubmission, match="unsupported"):
        stage(tmp_path / "alice.rar", tmp_path, slug="toy")


def test_folder_without_module_is_bad_submission(workspace: Path, tmp_path: Path) -> None:
    (workspace / "toy.py").unlink()
    with pytest.raises(BadSubmission, match=r"no toy\.py"):
        stage(workspace, tmp_path)


def test_module_too_deep_gets_a_hint(workspace: Path, tmp_path: Path) -> None:
    (workspace / "src").mkdir()
    (workspace / "toy.py").rename(workspace / "src" / "toy.py")
    with pytest.raises(BadSubmission, match=r"found src/toy\.py"):
        stage(workspace, tmp_path)


def test_archive_without_module_is_bad_submission(toy: Exercise, tmp_path: Path) -> None:
    archive = zip_with(tmp_path / "a.zip", {"alice/other.py": b"x = 1\n"})
    with pytest.raises(BadSubmission, match=r"no toy\.py"):
        stage(archive, tmp_path, slug="toy")


def test_symlinked_module_in_folder_is_refused(workspace: Path, tmp_path: Path) -> None:
    (workspace / "toy.py").unlink()
    (workspace / "toy.py").symlink_to(tmp_path / "content" / "exercises" / "toy" / "toy.py")
    with pytest.raises(BadSubmission, match="symlink"):
        stage(workspace, tmp_path)


def test_symlinks_in_folder_are_not_followed(workspace: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("interviewer's")
    (workspace / "leak.txt").symlink_to(secret)
    (workspace / "leakdir").symlink_to(tmp_path / "content", target_is_directory=True)
    names = files_of(stage(workspace, tmp_path).root)
    assert "leak.txt" not in names and not any(n.startswith("leakdir") for n in names)


def test_folder_named_like_a_module_is_neither_hashed_nor_a_test(
    workspace: Path, tmp_path: Path
) -> None:
    (workspace / "tests" / "test_dir.py").mkdir()
    (workspace / "tests" / "test_dir.py" / "notes.txt").write_text("x")
    staged = stage(workspace, tmp_path)
    assert staged.own_test_files == (staged.root / "tests" / "test_mine.py",)


def test_failed_folder_copy_leaves_no_partial_stage(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "MAX_MEMBERS", 3)
    with pytest.raises(BadSubmission, match="too large"):
        stage(workspace, tmp_path)
    assert not (tmp_path / "scratch" / "submission").exists()


def test_reused_scratch_is_kit_error(workspace: Path, tmp_path: Path) -> None:
    stage(workspace, tmp_path)
    with pytest.raises(KitError):
        stage(workspace, tmp_path)


# --- broken and hostile archives -------------------------------------------------------


def test_garbage_zip_is_bad_submission(toy: Exercise, tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(b"this is not a zip file at all")
    with pytest.raises(BadSubmission, match="broken"):
        stage(tmp_path / "a.zip", tmp_path, slug="toy")


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_truncated_archive_is_bad_submission(workspace: Path, tmp_path: Path, suffix: str) -> None:
    archive = tmp_path / f"a{suffix}"
    (make_zip if suffix == ".zip" else make_tar)(workspace, archive)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadSubmission, match="broken"):
        stage(archive, tmp_path)


def test_zip_with_parent_traversal_is_refused(toy: Exercise, tmp_path: Path) -> None:
    archive = zip_with(tmp_path / "a.zip", {"toy.py": b"x = 1\n", "../evil.py": b"boom"})
    with pytest.raises(BadSubmission, match="unsafe"):
        stage(archive, tmp_path, slug="toy")
    assert_nothing_escaped(tmp_path)


def test_zip_with_absolute_path_is_refused(toy: Exercise, tmp_path: Path) -> None:
    evil = tmp_path / "evil_abs.py"
    archive = zip_with(tmp_path / "a.zip", {"toy.py": b"x = 1\n", str(evil): b"boom"})
    with pytest.raises(BadSubmission, match="unsafe"):
        stage(archive, tmp_path, slug="toy")
    assert_nothing_escaped(tmp_path)


def test_zip_symlink_member_is_refused(toy: Exercise, tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice/toy.py", SOLUTION)
        link = zipfile.ZipInfo("alice/evil_link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(BadSubmission, match="link"):
        stage(archive, tmp_path, slug="toy")


@pytest.mark.parametrize("name", ["../evil.py", "alice/../../evil.py"])
def test_tar_with_parent_traversal_is_refused(toy: Exercise, tmp_path: Path, name: str) -> None:
    archive = tar_with(tmp_path / "a.tar.gz", tarfile.TarInfo(name))
    with pytest.raises(BadSubmission, match="unsafe"):
        stage(archive, tmp_path, slug="toy")
    assert_nothing_escaped(tmp_path)


def test_tar_with_absolute_path_is_refused(toy: Exercise, tmp_path: Path) -> None:
    archive = tar_with(tmp_path / "a.tar.gz", tarfile.TarInfo(str(tmp_path / "evil_abs.py")))
    with pytest.raises(BadSubmission, match="unsafe"):
        stage(archive, tmp_path, slug="toy")
    assert_nothing_escaped(tmp_path)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_tar_link_and_device_members_are_refused(
    toy: Exercise, tmp_path: Path, kind: bytes
) -> None:
    member = tarfile.TarInfo("alice/evil_link")
    member.type = kind
    member.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else "alice/toy.py"
    with pytest.raises(BadSubmission, match="link or device"):
        stage(tar_with(tmp_path / "a.tar.gz", member), tmp_path, slug="toy")
    assert_nothing_escaped(tmp_path)


def test_highly_compressed_large_member_is_refused(toy: Exercise, tmp_path: Path) -> None:
    archive = zip_with(tmp_path / "bomb.zip", {"toy.py": b"\0" * (17 * MiB)})
    assert archive.stat().st_size < 100_000
    with pytest.raises(BadSubmission, match="too large"):
        stage(archive, tmp_path, slug="toy")


def test_many_members_adding_up_past_the_total_are_refused(toy: Exercise, tmp_path: Path) -> None:
    blob = b"\0" * (15 * MiB)
    archive = zip_with(tmp_path / "bomb.zip", {f"junk{i}.py": blob for i in range(5)})
    with pytest.raises(BadSubmission, match="too large"):
        stage(archive, tmp_path, slug="toy")


def test_member_lying_about_its_size_is_refused_without_inflating(
    toy: Exercise, tmp_path: Path
) -> None:
    archive = zip_with(tmp_path / "liar.zip", {"toy.py": b"\0" * (20 * MiB)})
    data = bytearray(archive.read_bytes())
    # Declare 100 bytes in the local header (offset 22) and central directory (offset 24).
    struct.pack_into("<I", data, 22, 100)
    struct.pack_into("<I", data, data.index(b"PK\x01\x02") + 24, 100)
    archive.write_bytes(bytes(data))
    with pytest.raises(BadSubmission):
        stage(archive, tmp_path, slug="toy")
    assert all(p.stat().st_size <= MiB for p in (tmp_path / "scratch").rglob("*") if p.is_file())


def test_tar_decompressing_past_the_limit_in_headers_is_refused(
    toy: Exercise, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "MAX_TOTAL_BYTES", MiB)
    monkeypatch.setattr(staging, "_HEADER_ROOM", MiB)
    # A pax header is not a member: its bytes are only caught by counting the stream.
    member = tarfile.TarInfo("alice/notes.txt")
    member.pax_headers = {"comment": "x" * (3 * MiB)}
    archive = tmp_path / "pax.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(member, io.BytesIO(b""))
    with pytest.raises(BadSubmission, match="too large"):
        stage(archive, tmp_path, slug="toy")


def test_actual_bytes_are_counted_not_declared_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "MAX_FILE_BYTES", 1000)
    budget = staging._Budget(tmp_path / "a.zip")
    budget.member(10)
    with pytest.raises(BadSubmission, match="too large"):
        budget.write(io.BytesIO(b"\0" * 5000), tmp_path / "out" / "f", tmp_path / "out")
    assert (tmp_path / "out" / "f").stat().st_size <= 1000


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_too_many_members_are_refused(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    monkeypatch.setattr(staging, "MAX_MEMBERS", 5)
    archive = tmp_path / f"a{suffix}"
    (make_zip if suffix == ".zip" else make_tar)(workspace, archive)
    with pytest.raises(BadSubmission, match="5000 files"):
        stage(archive, tmp_path)


# --- hashing ---------------------------------------------------------------------------


def test_sha256_is_stable_across_locations(workspace: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other" / "bob"
    shutil.copytree(workspace, elsewhere, symlinks=True)
    first = stage(workspace, tmp_path, name="s1").sha256
    assert stage(elsewhere, tmp_path, name="s2").sha256 == first
    assert stage(make_zip(workspace, tmp_path / "w.zip", top="x"), tmp_path, name="s3").sha256 == (
        first
    )


def test_sha256_ignores_excluded_files(workspace: Path, tmp_path: Path) -> None:
    first = stage(workspace, tmp_path, name="s1").sha256
    (workspace / "__pycache__" / "more.pyc").write_bytes(b"x")
    (workspace / "conftest.py").write_text("# changed\n")
    (workspace / "clock.py").write_text("# changed\n")
    assert stage(workspace, tmp_path, name="s2").sha256 == first


def test_sha256_changes_with_the_code(workspace: Path, tmp_path: Path) -> None:
    first = stage(workspace, tmp_path, name="s1").sha256
    (workspace / "toy.py").write_text(SOLUTION + "# tweak\n")
    assert stage(workspace, tmp_path, name="s2").sha256 != first


# --- the real exercise -----------------------------------------------------------------


def test_stages_a_real_rate_limiter_workspace_archive(tmp_path: Path) -> None:
    exercise = get_exercise("rate_limiter")
    try:
        ws = start_workspace(exercise, tmp_path / "carol", (1,))
    except KitError as exc:
        pytest.skip(f"rate_limiter content not written yet: {exc}")
    staged = stage(make_tar(ws, tmp_path / "carol.tar.gz", top="carol"), tmp_path)
    assert staged.exercise.slug == "rate_limiter"
    assert staged.parts == (1,)
    # The workspace's stub is the exercise's, with the unassigned parts' classes left out.
    stub = filter_statement(exercise.stub_module.read_text(encoding="utf-8"), (1,))
    assert staged.module_path.read_text(encoding="utf-8") == stub
    assert "RedisTokenBucketLimiter" not in stub
    assert staged.own_test_files == ()


def test_a_dedup_workspace_is_graded_with_the_kits_messaging_module(tmp_path: Path) -> None:
    """A candidate's tampered messaging.py never reaches the grader: grading the reference
    next to a messaging.py that breaks at import still passes (about 3 s)."""
    exercise = get_exercise("dedup_consumer")
    ws = start_workspace(exercise, tmp_path / "dora", (1, 2))
    shutil.copyfile(exercise.reference_module, ws / exercise.module)
    (ws / "messaging.py").write_text("raise SystemExit('tampered messaging imported')\n")
    staged = stage(ws, tmp_path)
    kit = (exercise.exercise_dir / "messaging.py").read_bytes()
    assert (staged.root / "messaging.py").read_bytes() == kit
    graded = grade(GradeRequest(ws, checks=("DEDUP-ARGS",), out=tmp_path / "out"))
    statuses = {c.id: c.status for c in graded.report.checks}
    assert statuses == {"DEDUP-ARGS": "passed"}, graded.report.checks
