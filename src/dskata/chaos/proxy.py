"""A loopback proxy that injects network faults between a client and a server.

It listens on a loopback TCP port or, with ``listen_unix``, on a unix socket: a
sandboxed candidate has a network namespace of its own, so the way to Redis the
kit hands it is a socket file in a folder bound into the sandbox. Upstream is
always TCP. On a unix socket there is no RST: a ``reset`` closes the connection
(the client reads end-of-file or ECONNRESET — a dropped connection either way).

Graders put it between the candidate's Redis client and Redis, then switch its mode
between calls (so the fault a call meets is decided by the grader, not by timing):

- ``pass``: bytes flow unchanged;
- ``latency``: every chunk a client sends waits ``delay_s`` before it is forwarded
  (with ``spare=n``, the next ``n`` chunks go at once: a client's first request
  passes and the ones that follow it arrive late, which opens a window between a
  read and the write that depends on it);
- ``blackhole``: connections are accepted, requests are swallowed, nothing answers;
- ``reset``: every open connection is torn down with a TCP RST, and so is every new one;
- ``cut``: requests go through, replies are cut in the middle and the connection reset.

Written by hand: Toxiproxy, the usual tool, is a Go server that is not on PyPI and
would be one more binary to provision; no maintained Python library offers an
in-process proxy whose faults a test switches synchronously. Threads, not asyncio:
the grader that drives it is synchronous, and a mode change must take effect before
the grader's next call, which a lock gives directly.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["pass", "latency", "blackhole", "reset", "cut"]
MODES: tuple[Mode, ...] = ("pass", "latency", "blackhole", "reset", "cut")
_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Closes ``sock`` with an RST (linger 0) instead of a polite FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class ProxyStats:
    connections: int = 0
    requests: int = 0  # chunks sent by clients (a request, or a pipeline of them)


class _Link:
    """One client connection and its upstream connection, pumped by two threads."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        pairs = ((self.client, self.upstream, True), (self.upstream, self.client, False))
        for src, dst, to_server in pairs:
            threading.Thread(target=self._pump, args=(src, dst, to_server), daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        _reset(self.client)
        _reset(self.upstream)
        self.proxy._forget(self)

    def _pump(self, src: socket.socket, dst: socket.socket, to_server: bool) -> None:
        while True:
            try:
                data = src.recv(_CHUNK)
            except OSError:
                data = b""
            if not data:
                self.reset()
                return
            mode, delay_s = self.proxy.current()
            if to_server:
                self.proxy._count_request()
            if mode == "blackhole" or mode == "reset":
                if mode == "reset":
                    self.reset()
                    return
                continue
            if mode == "latency" and to_server and not self.proxy._spend_spare():
                time.sleep(delay_s)
            if mode == "cut" and not to_server:
                with contextlib.suppress(OSError):
                    dst.sendall(data[: max(1, len(data) // 2)])
                self.reset()
                return
            try:
                dst.sendall(data)
            except OSError:
                self.reset()
                return


class FaultProxy:
    """Listens on a loopback port (or the unix socket ``listen_unix``, which anyone
    may connect to) and forwards to ``upstream``; see the module doc."""

    def __init__(
        self, upstream_host: str, upstream_port: int, *, listen_unix: Path | None = None
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.unix_path = listen_unix
        self.host = "127.0.0.1"
        self.port = 0
        if listen_unix is None:
            self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
            self.port = self._listener.getsockname()[1]
        else:
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(str(listen_unix))
            os.chmod(listen_unix, 0o777)  # a sandbox runs as a uid of its own
            self._listener.listen(128)
        self.stats = ProxyStats()
        self._mode: Mode = "pass"
        self._delay_s = 0.0
        self._spare = 0  # latency: chunks still let through at once
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        if self.unix_path is not None:
            return f"unix://{self.unix_path}"
        return f"redis://{self.host}:{self.port}/0"

    def current(self) -> tuple[Mode, float]:
        with self._lock:
            return self._mode, self._delay_s

    def set(self, mode: Mode, *, delay_s: float = 0.0, spare: int = 0) -> None:
        """Switches every connection, open or future, to ``mode`` now. ``spare``
        (latency only): that many client chunks, from now on, are not delayed."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        with self._lock:
            self._mode, self._delay_s, self._spare = mode, delay_s, spare
            links = list(self._links) if mode == "reset" else []
        for link in links:
            link.reset()

    def heal(self) -> None:
        self.set("pass")

    def drop_connections(self) -> None:
        """Resets every open connection once, without changing the mode."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.reset()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            links = list(self._links)
        with contextlib.suppress(OSError):
            # close() alone does not wake a thread blocked in accept(); shutdown() does
            # on TCP, and on a unix socket a connection of our own does.
            self._listener.shutdown(socket.SHUT_RDWR)
        if self.unix_path is not None:
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as wake:
                wake.connect(str(self.unix_path))
        with contextlib.suppress(OSError):
            self._listener.close()
        for link in links:
            link.reset()
        self._acceptor.join(timeout=5)
        if self.unix_path is not None:
            with contextlib.suppress(OSError):
                self.unix_path.unlink()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------

    def _spend_spare(self) -> bool:
        """True (and one fewer spare) if this chunk may skip the latency."""
        with self._lock:
            if self._spare <= 0:
                return False
            self._spare -= 1
            return True

    def _count_request(self) -> None:
        with self._lock:
            self.stats.requests += 1

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                if self._closed:
                    _reset(client)
                    return
                self.stats.connections += 1
                mode = self._mode
            if mode == "reset":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)  # the server is down: the client sees a dropped connection
                continue
            for sock in (client, upstream):
                if sock.family != socket.AF_UNIX:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, client, upstream)
            with self._lock:
                self._links.add(link)
            link.start()
