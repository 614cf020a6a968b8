"""The middle isolation level, for machines without bubblewrap: util-linux ``unshare``.

New PID (with its own ``/proc``), network, IPC, UTS and mount namespaces; in the
new mount namespace a small shell script, still privileged, covers the kit's
hidden content (packaged graders, reference solutions, seeds) with empty
read-only tmpfs mounts, turns every mount read-only except the check's scratch
folder, and then ``setpriv`` drops every capability before the shim starts.

What it does not give (bubblewrap does): the child keeps the grading user's uid
(root, without capabilities, on the development machines: a uid of its own could
not read a pyenv interpreter under root's home), so it can read what that uid can
read — other gradings' submissions under /tmp, for one — and ``RLIMIT_NPROC`` does
not hold (the cgroup process limit still does, where cgroups are writable).

The script runs as PID 1 of the namespace and waits for the shim instead of
exec'ing it: PID 1 ignores signals it has no handler for (a SIGXCPU from the CPU
limit included), and orphans are re-parented to it to be reaped.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from dskata.sandbox.launcher import (
    Launched,
    LaunchRequest,
    _cgroup_words,
    drop_privileges_argv,
    hidden_trees,
    join_cgroups_argv,
    make_groups,
    start,
)

# $1 = the scratch folder, $2 = how many hidden folders follow, then those, then the
# command. Mount points with blanks (written \040 in /proc/self/mounts) are left as
# they are: the kit's folders have none.
_SCRIPT = r"""
set -e
scratch="$1"; hidden="$2"; shift 2
while [ "$hidden" -gt 0 ]; do
  if [ -d "$1" ]; then mount -t tmpfs -o ro,size=4k,mode=000 dskata-hidden "$1"; fi
  shift; hidden=$((hidden - 1))
done
mount --bind "$scratch" "$scratch"
while read -r _ point _; do
  mount -o remount,bind,ro "$point" 2>/dev/null || true
done < /proc/self/mounts
mount -o remount,bind,rw "$scratch"
set +e
"$@"
status=$?
exit "$status"
"""


def unshare_argv(request: LaunchRequest, *, as_root: bool) -> list[str]:
    hidden = [str(p) for p in hidden_trees() if p.is_dir()]
    argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]
    argv += ["--net", "--ipc", "--uts", "--mount", "--propagation", "private"]
    if not as_root:
        argv += ["--user", "--map-root-user"]
    argv += ["--", "/bin/sh", "-c", _SCRIPT, "sh", str(request.cwd.resolve()), str(len(hidden))]
    return [*argv, *hidden, *drop_privileges_argv(None), *request.argv]


class NamespaceLauncher:
    """``unshare`` namespaces, hidden content, a read-only filesystem, no capabilities."""

    isolation = "namespaces"
    degraded = False
    own_uid = False

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0

    @property
    def detail(self) -> str:
        return (
            "unshare: PID, network, IPC, UTS and mount namespaces, no capabilities, the "
            "kit's hidden content covered and every mount read-only but the scratch "
            "folder; the grading user's uid (it can read what that uid reads); "
            f"{_cgroup_words()}"
        )

    @classmethod
    def probe(cls) -> NamespaceLauncher | None:
        return cls() if _works(os.geteuid() == 0) else None

    def launch(self, request: LaunchRequest) -> Launched:
        groups = make_groups(request.limits)
        argv = join_cgroups_argv(groups) + unshare_argv(request, as_root=self.as_root)
        # The script reports a shim killed by signal N as exit status 128 + N.
        return start(argv, request, groups=groups, signal_base=128)


@functools.cache
def _works(as_root: bool) -> bool:
    if any(shutil.which(tool) is None for tool in ("unshare", "setpriv", "mount")):
        return False
    probe = Path(os.environ.get("TMPDIR", "/tmp"))
    request = LaunchRequest(["/bin/true"], probe, {}, (), log=None)  # type: ignore[arg-type]
    try:
        done = subprocess.run(
            unshare_argv(request, as_root=as_root),
            capture_output=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
