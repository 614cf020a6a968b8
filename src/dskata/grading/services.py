"""Real services a grading session shares between checks: for now, one Redis.

The Redis is started on first use (grading parts 1–2 never starts one), flushed
before every check that uses it, and stopped when the session ends. If none can be
had, every check that needs it ends as an infra error saying how to get one —
never a pass, never a fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from dskata import redis_server
from dskata.redis_server import NoRedis, RedisInfo


class RedisService:
    """The session's Redis, started lazily; remembers a failure to start."""

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        self._server: redis_server.Server | None = None
        self._failure: NoRedis | None = None

    def get(self) -> redis_server.Server:
        """Returns the running server, flushed; raises NoRedis when there is none."""
        if self._failure is not None:
            raise self._failure
        if self._server is None:
            self._scratch.mkdir(parents=True, exist_ok=True)
            try:
                self._server = redis_server.start(self._scratch)
            except NoRedis as exc:
                self._failure = exc
                raise
        server = self._server
        try:
            redis_server.reset(server.host, server.port)
        except OSError:  # a check left it stopped or broken: start it again
            server.restart()
        return server

    @property
    def info(self) -> RedisInfo | None:
        return None if self._server is None else self._server.info

    def report(self) -> dict[str, Any] | None:
        """What the report records: how Redis was obtained, its version, or why not."""
        if self._failure is not None:
            return {"source": "none", "version": "", "error": str(self._failure)}
        info = self.info
        return None if info is None else {"source": info.source, "version": info.version}

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def direct_client(server: redis_server.Server) -> redis.Redis:
    """The grader's own client: straight to Redis, never through the fault proxy."""
    return redis.Redis.from_url(server.url, socket_timeout=5)
