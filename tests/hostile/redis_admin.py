"""A correct Redis limiter whose constructor first tries to take the shared Redis over:
FLUSHALL, CONFIG SET, SHUTDOWN, DEBUG, ACL SETUSER, MONITOR, CLIENT KILL, and the same
from inside a Lua script. Any success makes it raise (and lose the check): a full score
means every one was refused."""

__hostile__ = {
    "attack": "Redis FLUSHALL / CONFIG SET / SHUTDOWN / ACL from the candidate",
    "base": "reference",
    "expect": "passed",
    "checks": ["RL-REDIS-KEYS", "RL-REDIS-VALIDATION"],  # graded on its own, part 3
    "slow": True,
}

_ATTACKS = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "SET", "maxmemory", "1"),
    ("CONFIG", "SET", "dir", "/tmp"),
    ("ACL", "SETUSER", "default", "+@all"),
    ("DEBUG", "SLEEP", "0"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("FUNCTION", "FLUSH"),
    ("REPLICAOF", "127.0.0.1", "1"),
    ("SHUTDOWN", "NOSAVE"),
    ("EVAL", "return redis.call('FLUSHALL')", "0"),
    ("EVAL", "return redis.call('CONFIG', 'SET', 'maxmemory', '1')", "0"),
]
# Not attacked: SCRIPT FLUSH is allowed. It drops only cached scripts, in a Redis that
# serves this one grading session (flushed before every check), and a correct client
# reloads on NOSCRIPT anyway: it can only hurt the candidate's own script calls.
_real_init = RedisTokenBucketLimiter.__init__  # type: ignore[name-defined]


def _init(self, redis, rate, burst, **kwargs):
    worked = []
    for attack in _ATTACKS:
        try:
            redis.execute_command(*attack)
            worked.append(" ".join(attack[:2]))
        except Exception:
            pass
    if worked:
        raise RuntimeError(f"the candidate's Redis user could run {worked}")
    _real_init(self, redis, rate, burst, **kwargs)


RedisTokenBucketLimiter.__init__ = _init  # type: ignore[name-defined]
