"""The part-3 dedup driver's kill point (dskata/drivers/dedup_consumer_redis.py): a life
frozen at an operation does nothing more, and a SIGKILL there is a crash at exactly that
operation. Real child processes, the reference consumer, a real Redis.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from dskata import redis_server
from dskata.drivers import driver_path
from dskata.sandbox.child import Child, ChildSpec
from dskata.sandbox.launcher import SubprocessLauncher

ROOT = Path(__file__).parents[1]
STREAM = "dedup:stream"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis_server.Server]:
    with redis_server.running(tmp_path_factory.mktemp("redis")) as s:
        yield s


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    root = tmp_path / "sub"
    root.mkdir()
    shutil.copy(ROOT / "reference_solutions" / "dedup_consumer" / "dedup_consumer.py", root)
    shutil.copy(ROOT / "exercises" / "dedup_consumer" / "messaging.py", root)
    return root


def _child(submission: Path, tmp_path: Path, name: str) -> Child:
    spec = ChildSpec(
        module_path=submission / "dedup_consumer.py",
        module_name="dedup_consumer",
        submission_root=submission,
        driver_path=driver_path("dedup_consumer"),
        scratch=tmp_path / name,
    )
    child = Child(spec, SubprocessLauncher())
    child.start()
    return child


def _options(server: redis_server.Server, name: str, kill_at: int | None) -> dict[str, Any]:
    return {
        "url": server.url, "name": name, "stream": STREAM, "group": "dedup", "prefix": "s:",
        "visibility_timeout": 0.5, "max_attempts": 3, "concurrency": 1, "dedup_window": 60.0,
        "failures": {}, "handler_s": {}, "default_handler_s": 0.01, "kill_at": kill_at,
    }  # fmt: skip


def test_a_life_frozen_before_exec_commits_nothing_and_its_successor_finishes(
    server: redis_server.Server, submission: Path, tmp_path: Path
) -> None:
    direct = redis.Redis.from_url(server.url)
    direct.flushall()
    direct.xadd(STREAM, {"id": "a", "body": "{}"})
    # Operations of the reference on one message: received, handler, commit (before EXEC)...
    first = _child(submission, tmp_path, "first")
    try:
        first.call("redis_start", _options(server, "first", 3), timeout_s=10)
        report = first.call("redis_wait", {"wait_s": 10.0}, timeout_s=15)
        assert report["state"] == "frozen"
        frozen = [e for e in report["events"] if e["k"] == "frozen"]
        assert frozen == [{**frozen[0], "op": 3, "at": "commit"}]
        assert [e["k"] for e in report["events"]][-2:] == ["handler", "frozen"]
        first.kill()
    finally:
        first.close()
    assert direct.get("s:effect:a") is None  # frozen before EXEC: nothing committed
    assert direct.xlen(STREAM) == 1  # and nothing acked
    second = _child(submission, tmp_path, "second")
    try:
        second.call("redis_start", _options(server, "second", None), timeout_s=10)
        deadline_polls = 100
        while direct.xlen(STREAM) and deadline_polls:
            second.call("redis_wait", {"wait_s": 0.1}, timeout_s=5)
            deadline_polls -= 1
        stopped = second.call("redis_stop", {"wait_s": 5.0}, timeout_s=10)
    finally:
        second.close()
    assert stopped["state"] == "finished" and stopped["returned"] is True
    assert direct.get("s:effect:a") == b"1"
    recv = [e for e in stopped["events"] if e["k"] == "recv"]
    assert recv and recv[0]["d"] == [["a", 2]]  # taken over after the visibility timeout
