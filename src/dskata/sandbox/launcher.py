"""How a child process is started: the swappable seam for isolation levels.

A launcher turns the shim's argv into the argv that actually runs (a wrapper
such as bubblewrap goes here) and names its isolation level for the report.
Limits are applied by the shim itself, inside the child, before any candidate
code runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-child resource limits (rlimits, applied by the shim)."""

    cpu_s: int = 60
    address_space: int = 2048 * MiB
    file_size: int = 32 * MiB
    open_files: int = 256
    processes: int | None = None  # RLIMIT_NPROC only holds for a non-root uid
    core: int = 0

    def as_config(self) -> dict[str, int]:
        values = {
            "cpu_s": self.cpu_s,
            "address_space": self.address_space,
            "file_size": self.file_size,
            "open_files": self.open_files,
            "core": self.core,
        }
        if self.processes is not None:
            values["processes"] = self.processes
        return values


@dataclass(frozen=True)
class LaunchRequest:
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    log: IO[bytes]
    extra: dict[str, str] = field(default_factory=dict)


class Launcher(Protocol):
    """Starts a child in its own session; ``isolation`` names the level for the report."""

    isolation: str

    def launch(self, request: LaunchRequest) -> subprocess.Popen[bytes]: ...


def scrubbed_env(scratch: Path, hash_seed: int = 0) -> dict[str, str]:
    """Returns the only environment a child sees: nothing of the grader's leaks in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": str(hash_seed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def python_argv(shim: Path, config_json: str) -> list[str]:
    # -s: no user site; -P: the shim's folder is not put on sys.path.
    return [sys.executable, "-s", "-P", str(shim), config_json]


class SubprocessLauncher:
    """A plain child process in a new session (its own process group) with rlimits."""

    isolation = "subprocess"

    def launch(self, request: LaunchRequest) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            request.argv,
            cwd=request.cwd,
            env=request.env,
            stdin=subprocess.DEVNULL,
            stdout=request.log,
            stderr=request.log,
            pass_fds=request.pass_fds,
            close_fds=True,
            start_new_session=True,
        )


def default_launcher() -> Launcher:
    """Returns the strongest launcher available (only the plain one exists so far)."""
    return SubprocessLauncher()


def pipe_pair() -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    return read_fd, write_fd
