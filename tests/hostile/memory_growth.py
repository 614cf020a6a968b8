"""Grows its memory in 64 MiB steps at import, every page touched, staying under the
address-space rlimit: only a limit on the memory actually used (the cgroup) stops it."""

__hostile__ = {
    "attack": "slow memory growth under the address-space limit",
    "base": "reference",
    "expect": "resource_exceeded",
    # Without cgroups (DSKATA_CGROUPS=off) 1.9 GiB is allowed and the import finishes.
}

_hoard = []
for _ in range(29):  # 1.8 GiB in all, below RLIMIT_AS (2 GiB) with the interpreter
    _hoard.append(b"\x01" * (64 * 1024 * 1024))
