"""Real services a grading session shares between checks: for now, one Redis.

The Redis is started on first use (grading parts 1–2 never starts one), flushed
before every check that uses it, and stopped when the session ends. If none can be
had, every check that needs it ends as an infra error saying how to get one —
never a pass, never a fail.

A server started here is hardened (``redis_server.harden``) and listens on a unix
socket in the session's sockets folder, the one folder of sockets bound into every
sandbox. A Redis reached by URL (``REDIS_URL``, a container) is on a TCP port a
sandbox with a network namespace of its own cannot reach: a pass-through proxy on a
unix socket in that folder bridges to it (and that Redis is not hardened: it is
someone else's). A check that leaves Redis unable to answer the reset (a script
that never ends: ``BUSY``) gets a restarted server, not an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from dskata import redis_server
from dskata.chaos.proxy import FaultProxy
from dskata.redis_server import Auth, NoRedis, RedisInfo, Server


class Bridged:
    """A Redis reached by URL, handed to sandboxes through a unix-socket proxy."""

    def __init__(self, server: Server, sockets: Path) -> None:
        self._server = server
        self._bridge = FaultProxy(
            server.host, server.port, listen_unix=sockets / redis_server.SOCKET_NAME
        )
        self.info = server.info
        self.host = server.host
        self.port = server.port
        self.auth: Auth | None = server.auth
        self.max_memory = "0"

    @property
    def url(self) -> str:
        return self._bridge.url

    @property
    def admin_url(self) -> str:
        return self._server.admin_url

    def restart(self) -> None:
        self._server.restart()

    def stop(self) -> None:
        self._bridge.close()
        self._server.stop()


class RedisService:
    """The session's Redis, started lazily; remembers a failure to start."""

    def __init__(self, scratch: Path, sockets: Path | None = None) -> None:
        self._scratch = scratch
        self._sockets = sockets
        self._server: Server | None = None
        self._failure: NoRedis | None = None

    def _start(self) -> Server:
        server = redis_server.start(self._scratch, sockets=self._sockets)
        if self._sockets is not None and not server.url.startswith("unix://"):
            return Bridged(server, self._sockets)
        return server

    def get(self) -> Server:
        """Returns the running server, flushed; raises NoRedis when there is none."""
        if self._failure is not None:
            raise self._failure
        if self._server is None:
            self._scratch.mkdir(parents=True, exist_ok=True)
            try:
                self._server = self._start()
            except NoRedis as exc:
                self._failure = exc
                raise
        server = self._server
        try:
            redis_server.reset(server.host, server.port, server.auth, server.max_memory)
        except OSError:  # a check left it stopped, broken or busy: start it again
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


def direct_client(server: Server) -> redis.Redis:
    """The grader's own client: straight to Redis as the grader's user, never through
    the fault proxy."""
    return redis.Redis.from_url(server.admin_url, socket_timeout=5)
