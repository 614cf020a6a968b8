"""The parent's handle on one sandboxed child: start, ask, judge the reply, kill.

Framing is JSON lines over two pipes. Wall-time limits are kept here, in the
parent (``select`` with a deadline, then SIGKILL to the whole sandbox): an
in-process alarm is defeated by a candidate that ignores SIGALRM.

Nothing the child sends is trusted: every message must have exactly the fields of
its kind, the id of the request it answers, and (where the driver declares one) a
result of the declared shape with exact JSON types; anything else is tampering.
The candidate's log is kept outside the folder the child may write to and read
through the descriptor the parent opened, so a symlink or a FIFO planted there
cannot make the grader read or wait on something else.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dskata.sandbox.faults import (
    CandidateCrashed,
    CandidateFault,
    CandidateRaised,
    CandidateResourceExceeded,
    CandidateTampered,
    CandidateTimedOut,
    NotAttempted,
)
from dskata.sandbox.launcher import (
    Launched,
    Launcher,
    LaunchRequest,
    Limits,
    python_argv,
    scrubbed_env,
)
from dskata.sandbox.replies import reply_problem

SHIM = Path(__file__).with_name("shim.py")
MAX_REPLY_BYTES = 16 * 1024 * 1024
LOG_EXCERPT_BYTES = 2048
_EXIT_EXCEPTIONS = {"SystemExit", "KeyboardInterrupt", "GeneratorExit"}
_RESOURCE_SIGNALS = {signal.SIGXCPU, signal.SIGXFSZ, signal.SIGKILL}


@dataclass(frozen=True)
class ChildSpec:
    """What to run in a child: the candidate's module, the exercise driver, limits."""

    module_path: Path
    module_name: str
    submission_root: Path
    driver_path: Path
    scratch: Path
    limits: Limits = field(default_factory=Limits)
    start_timeout_s: float = 15.0
    driver_options: dict[str, Any] = field(default_factory=dict)  # JSON, for the driver's setup
    # Fixed per process, so runs repeat; different between processes that share state,
    # so a key derived from hash() is not the same everywhere by accident.
    hash_seed: int = 0
    # Other folders the child may read: e.g. the one holding Redis's unix socket.
    readable: tuple[Path, ...] = ()
    # op → JSON schema of its result (the driver's REPLIES); None: any JSON result.
    reply_schemas: Mapping[str, Any] | None = None


@dataclass
class Reply:
    """A validated answer: either ``result`` or ``raised`` (the candidate's exception)."""

    result: Any = None
    raised: dict[str, Any] | None = None


class Child:
    """One child process serving one check. Use as a context manager."""

    def __init__(self, spec: ChildSpec, launcher: Launcher) -> None:
        self.spec = spec
        self.launcher = launcher
        self._proc: Launched | None = None
        self._next_id = 1
        self._buffer = bytearray()
        self._reply_fd = -1
        self._request_fd = -1
        self._dead: CandidateFault | None = None
        spec.scratch.mkdir(parents=True, exist_ok=True)
        # Beside the scratch folder, not in it: the one folder the child may write to.
        self.log_path = spec.scratch.with_name(spec.scratch.name + ".log")
        self._log_id: tuple[int, int] | None = None  # (device, inode) of the log we made

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Child:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Starts the child and waits for it to import the module.

        Raises CandidateCrashed (with the traceback) when the import fails.
        """
        req_read, req_write = os.pipe()
        rep_read, rep_write = os.pipe()
        config = {
            "request_fd": req_read,
            "reply_fd": rep_write,
            "grader_uid": os.getuid(),
            "limits": self.spec.limits.as_config(),
            "driver_path": str(self.spec.driver_path),
            "module_path": str(self.spec.module_path),
            "module_name": self.spec.module_name,
            "submission_root": str(self.spec.submission_root),
            "driver_options": self.spec.driver_options,
        }
        spec = self.spec
        readable = {spec.submission_root, spec.module_path.parent, *spec.readable}
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(self.log_path, flags, 0o644), "ab") as log:
            info = os.fstat(log.fileno())
            self._log_id = (info.st_dev, info.st_ino)
            request = LaunchRequest(
                argv=python_argv(SHIM, json.dumps(config)),
                cwd=spec.scratch,
                env=scrubbed_env(spec.scratch, spec.hash_seed),
                pass_fds=(req_read, rep_write),
                log=log,
                readable=tuple(sorted(readable)),
                limits=spec.limits,
            )
            try:
                self._proc = self.launcher.launch(request)
            finally:
                os.close(req_read)
                os.close(rep_write)
        self._request_fd = req_write
        self._reply_fd = rep_read
        hello = self._read_message(time.monotonic() + spec.start_timeout_s, "import")
        if set(hello) == {"id", "import_error"} and hello["id"] == 0:
            err = hello["import_error"]
            if not _valid_raised(err):
                raise self._fail(CandidateTampered("malformed import error"))
            raise CandidateCrashed(
                f"the module failed to import: {err['type']}: {err['message']}",
                detail=str(err.get("traceback", "")),
            )
        if set(hello) != {"id", "hello"} or hello["id"] != 0 or not _valid_hello(hello["hello"]):
            raise self._fail(CandidateTampered("the child's first message was not a hello"))

    def close(self) -> None:
        """Kills every process of the sandbox, gives back its cgroups and uid, and
        releases the pipes. Idempotent."""
        if self._proc is not None:
            self._proc.release()
        for fd in (self._request_fd, self._reply_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._request_fd = self._reply_fd = -1

    def kill(self) -> None:
        """SIGKILLs every process of the sandbox now, as a crash would, and nothing else:
        a thread waiting for its reply sees the death; ``close`` still cleans up."""
        if self._proc is not None:
            self._proc.kill()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # -- requests ----------------------------------------------------------

    def request(self, op: str, args: dict[str, Any], *, timeout_s: float) -> Reply:
        """Sends one request and returns the validated reply.

        Raises a CandidateFault subclass when the child dies, times out, exceeds a
        resource limit or breaks the protocol; NotAttempted on NotImplementedError.
        """
        if self._dead is not None:
            raise self._dead
        rid = self._next_id
        self._next_id += 1
        line = json.dumps({"id": rid, "op": op, "args": args}).encode() + b"\n"
        try:
            os.write(self._request_fd, line)
        except (BrokenPipeError, OSError):
            raise self._fail(self._death(f"while sending {op}")) from None
        message = self._read_message(time.monotonic() + timeout_s, op)
        if message["id"] != rid:
            raise self._fail(CandidateTampered(f"reply id {message['id']!r}, expected {rid}"))
        fields = set(message)
        schemas = self.spec.reply_schemas
        if fields == {"id", "protocol_error"}:
            if schemas is not None and op in schemas:  # the driver has it: a forged reply
                raise self._fail(CandidateTampered(f"a forged protocol error for {op}"))
            # The grader asked for an op the driver lacks: the kit's own bug.
            raise RuntimeError(f"driver protocol error: {message['protocol_error']!r:.200}")
        if fields == {"id", "raised"}:
            raised = message["raised"]
            if not _valid_raised(raised):
                raise self._fail(CandidateTampered("malformed exception description"))
            return Reply(raised=raised)
        if fields != {"id", "result"}:
            raise self._fail(CandidateTampered(f"unexpected reply fields {sorted(fields)!r:.200}"))
        result = message["result"]
        if schemas is not None and op in schemas:
            problem = reply_problem(schemas[op], result)
            if problem is not None:
                raise self._fail(CandidateTampered(f"the reply to {op} {problem}"))
        return Reply(result=result)

    def call(self, op: str, args: dict[str, Any], *, timeout_s: float) -> Any:
        """Like request, but the candidate raising is a failure (CandidateRaised)."""
        reply = self.request(op, args, timeout_s=timeout_s)
        if reply.raised is not None:
            raise_for_raised(op, reply.raised)
        return reply.result

    # -- internals ---------------------------------------------------------

    def _read_message(self, deadline: float, what: str) -> dict[str, Any]:
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                raw = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                return self._decode(raw)
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise self._fail(CandidateTampered("a reply exceeded the size cap"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._fail(self._timeout(what))
            # Wake every quarter second to ask the cgroup: once the kernel has OOM-killed a
            # member, the sandbox is over its limit for good; waiting out the deadline
            # would only let the rest of a fork tree keep it pinned there.
            ready, _, _ = select.select([self._reply_fd], [], [], min(remaining, 0.25))
            if not ready:
                if (over := self._over_memory(f"during {what}")) is not None:
                    raise self._fail(over)
                continue
            chunk = os.read(self._reply_fd, 1 << 16)
            if not chunk:
                raise self._fail(self._death(f"during {what}"))
            self._buffer += chunk

    def _decode(self, raw: bytes) -> dict[str, Any]:
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[…
            raise self._fail(CandidateTampered("a reply was not valid JSON")) from None
        if type(message) is not dict or type(message.get("id")) is not int:
            raise self._fail(CandidateTampered("a reply was not an object with an integer id"))
        return message

    def _timeout(self, what: str) -> CandidateFault:
        hit = self._proc.limit_hit() if self._proc is not None else None
        if hit == "processes":
            return CandidateResourceExceeded(
                f"no answer to {what} within the time limit, after running into the process "
                f"limit ({self.spec.limits.processes} processes and threads)"
            )
        if hit == "memory":  # e.g. the kernel killed a forked helper, the rest waited on it
            return CandidateResourceExceeded(
                f"no answer to {what} within the time limit, after the kernel killed "
                f"processes of the sandbox over its memory limit "
                f"({self.spec.limits.memory // (1024 * 1024)} MiB)"
            )
        return CandidateTimedOut(f"no answer to {what} within the time limit")

    def _over_memory(self, when: str) -> CandidateFault | None:
        """The verdict for a sandbox the kernel OOM-killed a process of, or None."""
        if self._proc is None or self._proc.limit_hit() != "memory":
            return None
        mib = self.spec.limits.memory // (1024 * 1024)
        return CandidateResourceExceeded(
            f"the sandbox went over its memory limit ({mib} MiB) {when}: the kernel killed "
            "a process of it"
        )

    def _death(self, when: str) -> CandidateFault:
        proc = self._proc
        code: int | None = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            if (over := self._over_memory(when)) is not None:
                return over
        if code is not None and code < 0:
            try:
                sig = signal.Signals(-code)
            except ValueError:
                return CandidateCrashed(f"the process died from signal {-code} {when}")
            if sig in _RESOURCE_SIGNALS:
                return CandidateResourceExceeded(f"the process was killed by {sig.name} {when}")
            return CandidateCrashed(f"the process died from {sig.name} {when}")
        return CandidateCrashed(f"the process exited with status {code} {when}")

    def _fail(self, fault: CandidateFault) -> CandidateFault:
        self._dead = fault
        self.close()
        return fault

    def log_excerpt(self) -> str | None:
        """Returns the head and tail of the candidate's captured stdout/stderr, or None."""
        try:  # never follow a link, never wait on a FIFO, only the very file we made
            fd = os.open(self.log_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) != self._log_id or info.st_size == 0:
                return None
            size = info.st_size
            if size <= 2 * LOG_EXCERPT_BYTES:
                return os.pread(fd, size, 0).decode("utf-8", "replace")
            head = os.pread(fd, LOG_EXCERPT_BYTES, 0)
            tail = os.pread(fd, LOG_EXCERPT_BYTES, size - LOG_EXCERPT_BYTES)
        finally:
            os.close(fd)
        skipped = size - 2 * LOG_EXCERPT_BYTES
        return (
            head.decode("utf-8", "replace")
            + f"\n… [{skipped} bytes skipped] …\n"
            + tail.decode("utf-8", "replace")
        )


def _valid_raised(raised: object) -> bool:
    """True for the shim's exception description: exactly its fields, exact types."""
    if type(raised) is not dict or not set(raised) <= {"type", "mro", "message", "traceback"}:
        return False
    if type(raised.get("type")) is not str or type(raised.get("message")) is not str:
        return False
    if type(raised.get("traceback", "")) is not str:
        return False
    mro = raised.get("mro")
    return type(mro) is list and all(type(n) is str for n in mro)


def _valid_hello(hello: object) -> bool:
    return type(hello) is dict and set(hello) == {"pid"} and type(hello["pid"]) is int


def raise_for_raised(op: str, raised: dict[str, Any]) -> None:
    """Turns the candidate's exception into the right grader signal and raises it."""
    name = str(raised.get("type"))
    if name == "NotImplementedError" or "NotImplementedError" in raised.get("mro", []):
        raise NotAttempted(f"{op} raised NotImplementedError")
    if name == "MemoryError":
        raise CandidateResourceExceeded(f"{op} ran out of memory (MemoryError)")
    if name in _EXIT_EXCEPTIONS:
        raise CandidateCrashed(f"{op} raised {name}: {raised.get('message')}")
    raise CandidateRaised(op, raised)
