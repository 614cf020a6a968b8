"""How a child process is started: the swappable seam for isolation levels.

A launcher turns the shim's argv into the processes that actually run and names
its isolation level for the report. The ladder, strongest first (overview, "Trust"):

    bubblewrap   own user/PID/network/IPC/UTS/mount namespaces, no capabilities, a
                 uid of its own, only the interpreter, the kit's engine, the
                 submission and the check's scratch folder visible    (``bwrap.py``)
    namespaces   ``unshare`` PID/network/IPC/UTS/mount namespaces, the kit's hidden
                 content covered, every mount read-only but the scratch (``namespaces.py``)
    subprocess   a plain child in its own session with rlimits — *degraded*

At every level, where cgroups are writable, the sandbox also gets a memory and a
process-count limit for its whole tree, and a member list that finds and kills a
grandchild that called ``setsid()`` (``cgroups.py``). rlimits are applied by the
shim itself, inside the child, before any candidate code runs.

``DSKATA_ISOLATION=bubblewrap|namespaces|subprocess`` forces a level (``auto``, the
default, takes the strongest that works here); ``DSKATA_CGROUPS=off`` turns cgroups off.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from dskata.sandbox import cgroups, uids
from dskata.sandbox.cgroups import CgroupLimits, CgroupSet

MiB = 1024 * 1024
LEVELS = ("bubblewrap", "namespaces", "subprocess")


class SandboxUnavailable(RuntimeError):
    """Raised when a forced isolation level (``DSKATA_ISOLATION``) cannot run here."""


@dataclass(frozen=True)
class Limits:
    """Per-child resource limits: rlimits (applied by the shim) and cgroup limits."""

    cpu_s: int = 60
    address_space: int = 2048 * MiB
    file_size: int = 32 * MiB
    open_files: int = 256
    processes: int = 256  # threads count; RLIMIT_NPROC only where the child has its own uid
    core: int = 0
    memory: int = 1024 * MiB  # the whole sandbox tree together (cgroup)

    def as_config(self) -> dict[str, int]:
        # The shim sets RLIMIT_NPROC ("processes") only when it runs as a uid of its
        # own: on a uid it shares (root, a developer's) it would count their processes
        # too, or, for root, nothing at all.
        return {
            "cpu_s": self.cpu_s,
            "address_space": self.address_space,
            "file_size": self.file_size,
            "open_files": self.open_files,
            "core": self.core,
            "processes": self.processes,
        }


@dataclass(frozen=True)
class LaunchRequest:
    """What to start. ``cwd`` is the check's scratch folder, the only writable one;
    ``readable`` are the other folders the child may read (the submission, the
    folder of Redis's and the fault proxies' unix sockets)."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    log: IO[bytes]
    extra: dict[str, str] = field(default_factory=dict)
    readable: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)


class Launched:
    """A started sandbox: its first process, its cgroups and its uid lease.

    ``kill`` ends every process of the sandbox now; ``release`` (idempotent) also
    reaps it and gives back the cgroups and the uid.
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        *,
        groups: CgroupSet | None = None,
        lease: uids.UidLease | None = None,
        signal_base: int | None = None,
    ) -> None:
        self.proc = proc
        self.groups = groups
        self.lease = lease
        # bwrap reports a command killed by signal N as exit status 128 + N.
        self._signal_base = signal_base
        self._released = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _normal(self, code: int) -> int:
        """Returns ``-signal`` for a death by signal, else the exit status."""
        base = self._signal_base
        if base is not None and base < code < base + 65:
            return -(code - base)
        return code

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the first process; raises subprocess.TimeoutExpired."""
        return self._normal(self.proc.wait(timeout=timeout))

    def poll(self) -> int | None:
        code = self.proc.poll()
        return None if code is None else self._normal(code)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        if self.groups is not None:
            self.groups.kill()

    def limit_hit(self) -> str | None:
        """Names the cgroup limit the sandbox ran into ("memory", "processes"), or None."""
        if self.groups is None:
            return None
        if self.groups.oom_kills():
            return "memory"
        if self.groups.process_limit_hits():
            return "processes"
        return None

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # a zombie we cannot reap
            self.proc.wait(timeout=10)
        if self.groups is not None:
            self.groups.remove()
        if self.lease is not None:
            self.lease.release()


class Launcher(Protocol):
    """Starts a child; ``isolation`` names the level for the report, ``detail`` says
    what it does and does not give, ``degraded`` is true for the plain subprocess, and
    ``own_uid`` is true when every child runs as a uid of its own (so RLIMIT_NPROC holds)."""

    isolation: str
    degraded: bool
    own_uid: bool

    @property
    def detail(self) -> str: ...

    def launch(self, request: LaunchRequest) -> Launched: ...


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
    # -s: no user site; -P: the shim's folder is not put on sys.path. Not -I: it
    # would also ignore PYTHONHASHSEED, which keeps the child's hashes repeatable.
    return [sys.executable, "-s", "-P", str(shim), config_json]


# -- pieces every level uses ----------------------------------------------------


def join_cgroups_argv(groups: CgroupSet | None) -> list[str]:
    """A shell that moves itself into ``groups`` and then execs the rest of the argv:
    every process the sandbox ever starts is then born inside them (no window in
    which a fork escapes, and no ``preexec_fn`` in a threaded grader)."""
    if groups is None:
        return []
    files = groups.procs_files
    script = 'echo $$ > "$1" && shift && ' * len(files) + 'exec "$@"'
    return ["/bin/sh", "-c", script, "sh", *map(str, files)]


def drop_privileges_argv(uid: int | None) -> list[str]:
    """``setpriv`` that ends root's powers before exec: no capabilities now or after
    exec, no new privileges from setuid files, and (with ``uid``) that uid and gid."""
    argv = ["setpriv"]
    if uid is not None:
        argv += [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return [*argv, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


@functools.cache
def cgroup_version() -> str | None:
    return cgroups.available()


def make_groups(limits: Limits) -> CgroupSet | None:
    if cgroup_version() is None:
        return None
    return cgroups.create(CgroupLimits(memory=limits.memory, processes=limits.processes))


def give_to(folder: Path, uid: int) -> None:
    """Makes the scratch folder the sandbox uid's own, so the child may write there."""
    os.chown(folder, uid, uid)


def _cgroup_words() -> str:
    version = cgroup_version()
    if version is None:
        return "no cgroup limits (cgroups not writable here, or DSKATA_CGROUPS=off)"
    return f"cgroup {version} memory and process limits for the whole tree"


class SubprocessLauncher:
    """A plain child process in a new session (its own process group) with rlimits,
    inside cgroups where they are writable. Degraded: the child runs as the grading
    user and sees the filesystem and the network as that user does."""

    isolation = "subprocess"
    degraded = True
    own_uid = False

    @property
    def detail(self) -> str:
        return (
            f"a plain subprocess with rlimits as the grading user, {_cgroup_words()}; "
            "no namespaces, so the child can read and write what that user can and reach "
            "the network"
        )

    def launch(self, request: LaunchRequest) -> Launched:
        groups = make_groups(request.limits)
        return start(join_cgroups_argv(groups) + request.argv, request, groups=groups)


def start(
    argv: list[str],
    request: LaunchRequest,
    *,
    groups: CgroupSet | None = None,
    lease: uids.UidLease | None = None,
    signal_base: int | None = None,
    pass_fds: tuple[int, ...] = (),
) -> Launched:
    """Starts ``argv`` in a new session; on failure gives back the groups and the uid."""
    try:
        proc = subprocess.Popen(
            argv,
            cwd=request.cwd,
            env=request.env,
            stdin=subprocess.DEVNULL,
            stdout=request.log,
            stderr=request.log,
            pass_fds=request.pass_fds + pass_fds,
            close_fds=True,
            start_new_session=True,
        )
    except BaseException:
        if groups is not None:
            groups.remove()
        if lease is not None:
            lease.release()
        raise
    return Launched(proc, groups=groups, lease=lease, signal_base=signal_base)


def kit_trees() -> list[Path]:
    """The folders a child must read to run the shim and a driver: the interpreter's
    installation, the virtualenv (its site-packages), and the ``dskata`` package."""
    import dskata

    trees = [Path(sys.base_prefix), Path(sys.prefix), Path(dskata.__file__).parent]
    return [p.resolve() for p in trees]


def hidden_trees() -> list[Path]:
    """What no child may see although it lies inside a tree it reads: the packaged
    graders, reference solutions and seeds (``dskata/_content``)."""
    from dskata.catalog import content_root

    root = content_root().resolve()
    return [root / name for name in ("graders", "reference_solutions", "seeds")]


# -- choosing a level -----------------------------------------------------------


def _factories() -> dict[str, Callable[[], Launcher | None]]:
    from dskata.sandbox.bwrap import BwrapLauncher
    from dskata.sandbox.namespaces import NamespaceLauncher

    return {
        "bubblewrap": BwrapLauncher.probe,
        "namespaces": NamespaceLauncher.probe,
        "subprocess": SubprocessLauncher,
    }


@functools.cache
def _chosen(requested: str) -> Launcher:
    factories = _factories()
    if requested != "auto":
        if requested not in factories:
            raise SandboxUnavailable(
                f"DSKATA_ISOLATION={requested!r} must be one of auto, {', '.join(LEVELS)}"
            )
        launcher = factories[requested]()
        if launcher is None:
            raise SandboxUnavailable(f"DSKATA_ISOLATION={requested} is not available here")
        return launcher
    for name in LEVELS:
        launcher = factories[name]()
        if launcher is not None:
            return launcher
    raise AssertionError("the subprocess level is always available")


def default_launcher() -> Launcher:
    """Returns the strongest launcher that works here, or the one ``DSKATA_ISOLATION``
    names (raises SandboxUnavailable when that one cannot run). Probed once per process."""
    return _chosen(os.environ.get("DSKATA_ISOLATION", "auto").strip().lower() or "auto")


def pipe_pair() -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    return read_fd, write_fd
