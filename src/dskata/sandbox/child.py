"""The parent's handle on one sandboxed child: start, ask, judge the reply, kill.

Framing is JSON lines over two pipes. Wall-time limits are kept here, in the
parent (``select`` with a deadline, then SIGKILL to the whole process group):
an in-process alarm is defeated by a candidate that ignores SIGALRM.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
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
    Launcher,
    LaunchRequest,
    Limits,
    python_argv,
    scrubbed_env,
)

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
        self._proc: subprocess.Popen[bytes] | None = None
        self._next_id = 1
        self._buffer = bytearray()
        self._reply_fd = -1
        self._request_fd = -1
        self._dead: CandidateFault | None = None
        spec.scratch.mkdir(parents=True, exist_ok=True)
        self.log_path = spec.scratch / "candidate.log"

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
            "limits": self.spec.limits.as_config(),
            "driver_path": str(self.spec.driver_path),
            "module_path": str(self.spec.module_path),
            "module_name": self.spec.module_name,
            "submission_root": str(self.spec.submission_root),
            "driver_options": self.spec.driver_options,
        }
        with open(self.log_path, "ab") as log:
            request = LaunchRequest(
                argv=python_argv(SHIM, json.dumps(config)),
                cwd=self.spec.scratch,
                env=scrubbed_env(self.spec.scratch, self.spec.hash_seed),
                pass_fds=(req_read, rep_write),
                log=log,
            )
            try:
                self._proc = self.launcher.launch(request)
            finally:
                os.close(req_read)
                os.close(rep_write)
        self._request_fd = req_write
        self._reply_fd = rep_read
        hello = self._read_message(time.monotonic() + self.spec.start_timeout_s, "import")
        if "import_error" in hello:
            err = hello["import_error"]
            raise CandidateCrashed(
                f"the module failed to import: {err.get('type')}: {err.get('message')}",
                detail=str(err.get("traceback", "")),
            )
        if hello.get("id") != 0 or "hello" not in hello:
            raise self._fail(CandidateTampered("the child's first message was not a hello"))

    def close(self) -> None:
        """Kills the child's whole process group and releases the pipes. Idempotent."""
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):  # a zombie we cannot reap
                proc.wait(timeout=10)
        for fd in (self._request_fd, self._reply_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._request_fd = self._reply_fd = -1

    def kill(self) -> None:
        """SIGKILLs the child's process group now, as a crash would, and nothing else:
        a thread waiting for its reply sees the death; ``close`` still cleans up."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)

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
        if message.get("id") != rid:
            raise self._fail(CandidateTampered(f"reply id {message.get('id')!r}, expected {rid}"))
        if "protocol_error" in message:
            # The grader asked for an op the driver lacks: the kit's own bug.
            raise RuntimeError(f"driver protocol error: {message['protocol_error']}")
        if "raised" in message:
            raised = message["raised"]
            if not _valid_raised(raised):
                raise self._fail(CandidateTampered("malformed exception description"))
            return Reply(raised=raised)
        if set(message) != {"id", "result"}:
            raise self._fail(CandidateTampered(f"unexpected reply fields {sorted(message)}"))
        return Reply(result=message["result"])

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
                raise self._fail(CandidateTimedOut(f"no answer to {what} within the time limit"))
            ready, _, _ = select.select([self._reply_fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._reply_fd, 1 << 16)
            if not chunk:
                raise self._fail(self._death(f"during {what}"))
            self._buffer += chunk

    def _decode(self, raw: bytes) -> dict[str, Any]:
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self._fail(CandidateTampered("a reply was not valid JSON")) from None
        if type(message) is not dict or type(message.get("id")) is not int:
            raise self._fail(CandidateTampered("a reply was not an object with an integer id"))
        return message

    def _death(self, when: str) -> CandidateFault:
        proc = self._proc
        code: int | None = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
        if code is not None and code < 0:
            sig = signal.Signals(-code)
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
        try:
            size = self.log_path.stat().st_size
        except OSError:
            return None
        if size == 0:
            return None
        with open(self.log_path, "rb") as f:
            head = f.read(LOG_EXCERPT_BYTES)
            if size <= 2 * LOG_EXCERPT_BYTES:
                return (head + f.read()).decode("utf-8", "replace")
            f.seek(size - LOG_EXCERPT_BYTES)
            tail = f.read()
        skipped = size - 2 * LOG_EXCERPT_BYTES
        return (
            head.decode("utf-8", "replace")
            + f"\n… [{skipped} bytes skipped] …\n"
            + tail.decode("utf-8", "replace")
        )


def _valid_raised(raised: object) -> bool:
    if type(raised) is not dict:
        return False
    if type(raised.get("type")) is not str or type(raised.get("message")) is not str:
        return False
    mro = raised.get("mro")
    return type(mro) is list and all(type(n) is str for n in mro)


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
