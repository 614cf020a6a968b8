"""Per-sandbox control groups: a memory and a process-count limit for the whole tree,
and a way to find and kill every process of a sandbox, wherever it wandered.

rlimits are per process: four children of 700 MiB each pass a 2 GiB address-space
limit, and ``RLIMIT_NPROC`` is ignored for root. A cgroup counts the whole tree, and
its member list finds a grandchild that called ``setsid()`` (a process group kill
misses it). Both cgroup versions are handled: v1 (one hierarchy per controller, as on
this kit's development machines) and v2 (one unified hierarchy). Groups are made
under the grading process's own cgroup (``/proc/self/cgroup``), named after the
grading process, and removed when the sandbox is released; groups left behind by a
grading process that died are swept the next time one is made.

Hand-written: the libraries on PyPI for cgroups (cgroupspy, libcgroup bindings) are
v1-only or unmaintained, and what is needed here is a few file writes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
_PREFIX = "dskata-"
_counter = itertools.count()


@dataclass(frozen=True)
class CgroupLimits:
    memory: int  # bytes, the whole sandbox together
    processes: int  # tasks (threads count), the whole sandbox together


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) → this process's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _sweep(parent: Path) -> None:
    """Removes empty groups whose grading process is gone (it died before releasing)."""
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if not entry.name.startswith(_PREFIX) or not entry.is_dir():
                continue
            try:
                owner = int(entry.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
                with contextlib.suppress(OSError):
                    entry.rmdir()


class CgroupSet:
    """The groups of one sandbox: join them (``procs_files``), read, kill, remove."""

    def __init__(self, folders: dict[str, Path], version: int) -> None:
        self.folders = folders  # "memory"/"pids" (v1) or "unified" (v2) → folder
        self.version = version

    @property
    def procs_files(self) -> list[Path]:
        """Files a process writes its own pid to, to join every group of the set."""
        return [folder / "cgroup.procs" for folder in self.folders.values()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders.values():
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
        return found

    def _read_key(self, file: str, key: str) -> int:
        for folder in self.folders.values():
            path = folder / file
            if not path.exists():
                continue
            with contextlib.suppress(OSError, ValueError):
                for line in path.read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        return 0

    def oom_kills(self) -> int:
        """How many processes the kernel killed for going over the memory limit."""
        if self.version == 2:
            return self._read_key("memory.events", "oom_kill")
        return self._read_key("memory.oom_control", "oom_kill")

    def process_limit_hits(self) -> int:
        """How many forks (or new threads) the process limit refused."""
        return self._read_key("pids.events", "max")

    def kill(self, timeout_s: float = 5.0) -> bool:
        """SIGKILLs every member until none is left; True when the groups are empty.

        A member may fork while the list is read, so the list is read again until it
        stays empty (the process limit bounds how many there can be).
        """
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.folders["unified"] / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + timeout_s
        while True:
            members = self.pids()
            if not members:
                return True
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def remove(self) -> None:
        """Kills what is left and removes the groups (a dying member may hold one briefly)."""
        self.kill()
        for folder in self.folders.values():
            for _ in range(200):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _v1_parents() -> dict[str, Path] | None:
    own = _own_paths()
    parents: dict[str, Path] = {}
    for controller in ("memory", "pids"):
        mount = ROOT / controller
        if controller not in own or not (mount / "cgroup.procs").exists():
            return None
        parent = mount / own[controller].lstrip("/")
        if not _writable(parent):
            return None
        parents[controller] = parent
    return parents


def _v2_parent() -> Path | None:
    own = _own_paths()
    if "" not in own:
        return None
    # The unified hierarchy is ROOT itself, or ROOT/unified beside v1 (hybrid mode).
    for mount in (ROOT, ROOT / "unified"):
        controllers = mount / "cgroup.controllers"
        if not controllers.exists():
            continue
        parent = mount / own[""].lstrip("/")
        enabled = (parent / "cgroup.subtree_control").read_text().split() if _writable(
            parent
        ) else []
        if {"memory", "pids"} <= set(enabled):
            return parent
    return None


def available() -> str | None:
    """Names the cgroup version that can limit memory and processes here, or None."""
    if os.environ.get("DSKATA_CGROUPS", "").lower() in ("0", "off", "no"):
        return None
    if _v1_parents() is not None:
        return "v1"
    if _v2_parent() is not None:
        return "v2"
    return None


def _write(path: Path, value: str) -> None:
    with contextlib.suppress(FileNotFoundError):  # e.g. memsw without swap accounting
        path.write_text(value)


def create(limits: CgroupLimits) -> CgroupSet | None:
    """Makes the groups of one sandbox with ``limits`` set; None when cgroups are not usable.

    Raises OSError when a group cannot be made or limited although cgroups looked usable.
    """
    name = f"{_PREFIX}{os.getpid()}-{next(_counter)}"
    parents = _v1_parents()
    if parents is not None:
        folders = {}
        try:
            for controller, parent in parents.items():
                _sweep(parent)
                folder = parent / name
                folder.mkdir()
                folders[controller] = folder
            _write(folders["memory"] / "memory.limit_in_bytes", str(limits.memory))
            _write(folders["memory"] / "memory.memsw.limit_in_bytes", str(limits.memory))
            _write(folders["pids"] / "pids.max", str(limits.processes))
        except OSError:
            CgroupSet(folders, 1).remove()
            raise
        return CgroupSet(folders, 1)
    parent2 = _v2_parent()
    if parent2 is None:
        return None
    _sweep(parent2)
    folder = parent2 / name
    folder.mkdir()
    made = CgroupSet({"unified": folder}, 2)
    try:
        _write(folder / "memory.max", str(limits.memory))
        _write(folder / "memory.swap.max", "0")
        _write(folder / "pids.max", str(limits.processes))
    except OSError:
        made.remove()
        raise
    return made
