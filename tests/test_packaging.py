"""``pip install .`` gives a working kit: the exercise content travels inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import dskata
from dskata.catalog import all_exercises, content_root

ROOT = Path(__file__).parents[1]
CONTENT = ("exercises", "reference_solutions", "graders", "seeds")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("dskata-*.whl")
    return built


def test_the_wheel_carries_every_content_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in CONTENT:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                packaged = f"dskata/_content/{path.relative_to(ROOT).as_posix()}"
                assert packaged in names, f"{packaged} is not in the wheel"
    assert "dskata/sandbox/shim.py" in names
    assert "dskata/report/schema.json" in names
    for template in (ROOT / "src" / "dskata" / "report" / "templates").rglob("*"):
        if template.is_file():
            packaged = f"dskata/{template.relative_to(ROOT / 'src' / 'dskata').as_posix()}"
            assert packaged in names, f"{packaged} is not in the wheel"


def test_the_wheel_never_carries_the_kits_own_tests(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("tests/") or "/solutions/" in n]


def test_the_installed_kit_finds_its_content() -> None:
    root = content_root()
    for folder in CONTENT:
        assert (root / folder).is_dir()
    if "site-packages" in Path(dskata.__file__).parts:  # the non-editable install of tasks.py
        assert root == Path(dskata.__file__).parent / "_content"
    for exercise in all_exercises():
        assert exercise.reference_module.is_file()
        assert exercise.stub_module.is_file()
        assert exercise.grader_dir.is_dir()
