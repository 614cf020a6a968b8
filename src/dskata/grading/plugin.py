"""The pytest plugin that turns grader tests into scored, explained check results.

Loaded with ``-p dskata.grading.plugin --dskata-config FILE`` in the grading
process (trusted). It selects the checks of the assigned parts, seeds each one
from the profile, hands each a fresh sandboxed child, classifies how it ended
(passed, failed, timed out, crashed, …) and writes the results file that the
grading command turns into the report.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, Phase, settings

from dskata.chaos.proxy import FaultProxy
from dskata.grading.api import Candidate, Story
from dskata.grading.config import SessionConfig, check_seed
from dskata.grading.services import RedisService
from dskata.redis_server import NoRedis, Server
from dskata.results import CheckResult, Evidence, Status
from dskata.sandbox.child import Child, ChildSpec
from dskata.sandbox.faults import CandidateFault, CandidateRaised
from dskata.sandbox.launcher import Launcher, Limits, default_launcher
from dskata.sandbox.replies import replies_for

CONFIG_KEY = pytest.StashKey[SessionConfig]()
STATE_KEY = pytest.StashKey["_CheckState"]()
RESULTS_KEY = pytest.StashKey[list[CheckResult]]()
IMPORT_FAULT_KEY = pytest.StashKey[list[CandidateFault]]()
REDIS_KEY = pytest.StashKey[RedisService]()
ORDER_KEY = pytest.StashKey[list[str]]()
LAUNCHER_KEY = pytest.StashKey[Launcher]()
SOCKETS_KEY = pytest.StashKey[Path]()
_proxies = itertools.count(1)

settings.register_profile(
    "dskata",
    database=None,
    deadline=None,
    print_blob=True,
    derandomize=False,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
)


class _CheckState:
    """What one check collected while it ran: story and the children it started."""

    def __init__(self) -> None:
        self.story = Story()
        self.children: list[Child] = []
        self.started = time.monotonic()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--dskata-config", required=True, help="grading session config (JSON)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dskata_check(id, part, dimension, points, title): a check")
    config.stash[CONFIG_KEY] = SessionConfig.read(Path(config.getoption("--dskata-config")))
    config.stash[RESULTS_KEY] = []
    config.stash[IMPORT_FAULT_KEY] = []
    config.stash[LAUNCHER_KEY] = default_launcher()
    sockets = _sockets_folder()
    config.stash[SOCKETS_KEY] = sockets
    scratch = Path(config.stash[CONFIG_KEY].scratch)
    config.stash[REDIS_KEY] = RedisService(scratch / "redis", sockets)
    settings.load_profile("dskata")


def _sockets_folder() -> Path:
    """The one folder of sockets every sandbox may see: Redis's and the fault proxies'.

    Short (a unix socket's path has at most 107 bytes) and readable by a sandbox uid.
    """
    base = "/tmp" if os.access("/tmp", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="dskata-sock-", dir=base))
    folder.chmod(0o755)
    return folder


def pytest_unconfigure(config: pytest.Config) -> None:
    service = config.stash.get(REDIS_KEY, None)
    if service is not None:
        service.stop()
    sockets = config.stash.get(SOCKETS_KEY, None)
    if sockets is not None:
        shutil.rmtree(sockets, ignore_errors=True)


def _meta(item: pytest.Item) -> dict[str, Any]:
    marker = item.get_closest_marker("dskata_check")
    if marker is None:
        raise pytest.UsageError(f"grader test {item.nodeid} has no @check marker")
    return dict(marker.kwargs)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    cfg = config.stash[CONFIG_KEY]
    seen: dict[str, str] = {}
    keep: list[pytest.Item] = []
    for item in items:
        meta = _meta(item)
        if meta["id"] in seen:
            raise pytest.UsageError(
                f"check id {meta['id']} used by {seen[meta['id']]} and {item.nodeid}"
            )
        seen[meta["id"]] = item.nodeid
        if meta["part"] not in cfg.parts or (cfg.checks and meta["id"] not in cfg.checks):
            continue
        function = getattr(item, "obj", None)
        if getattr(function, "is_hypothesis_test", False):
            # Same profile + same check → the same generated examples, every run.
            function._hypothesis_internal_use_seed = check_seed(cfg.seed, meta["id"])  # type: ignore[union-attr]
        keep.append(item)
    unknown = sorted(set(cfg.checks or ()) - set(seen))
    if unknown:
        # Tell the kit in the results file: this is the user's typo, not the kit failing.
        known = ", ".join(sorted(seen))
        message = f"no check with id {unknown[0]} (known: {known})"
        Path(cfg.results_path).write_text(json.dumps({"usage_error": message}), encoding="utf-8")
        raise pytest.UsageError(f"no check with id {unknown[0]} (known: {', '.join(sorted(seen))})")
    # The report lists checks in this order, whichever session ran them.
    config.stash[ORDER_KEY] = [_meta(item)["id"] for item in keep]
    items[:] = keep


def _claim(item: pytest.Item) -> bool:
    """True if this session is the first to claim ``item`` (an atomic O_EXCL create)."""
    cfg = item.config.stash[CONFIG_KEY]
    try:
        fd = os.open(Path(cfg.claims_dir) / _meta(item)["id"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """With several sessions, each runs the next check nobody has claimed yet.

    A work queue rather than a fixed split: check costs differ a hundredfold, so a
    fixed split leaves one session idle. The next check is claimed before the
    current one runs, because pytest tears fixtures down towards the next item.
    """
    cfg = session.config.stash[CONFIG_KEY]
    if cfg.shard_count <= 1 or session.config.option.collectonly:
        return None  # pytest's own loop
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} errors during collection")
    pending = iter(session.items)
    current = next((i for i in pending if _claim(i)), None)
    while current is not None:
        following = next((i for i in pending if _claim(i)), None)
        current.config.hook.pytest_runtest_protocol(item=current, nextitem=following)
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
        current = following
    return True


def _progress(config: pytest.Config, event: dict[str, Any]) -> None:
    with open(config.stash[CONFIG_KEY].progress_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")


def pytest_collection_finish(session: pytest.Session) -> None:
    _progress(session.config, {"total": len(session.items)})


# -- fixtures ---------------------------------------------------------------


@pytest.fixture
def _check_state(request: pytest.FixtureRequest) -> Iterator[_CheckState]:
    state = _CheckState()
    request.node.stash[STATE_KEY] = state
    yield state
    for child in state.children:
        child.close()


def _spawn(
    request: pytest.FixtureRequest,
    state: _CheckState,
    module: Path,
    name: str,
    driver_options: dict[str, Any] | None = None,
    hash_seed: int = 0,
) -> Candidate:
    cfg = request.config.stash[CONFIG_KEY]
    meta = _meta(request.node)
    timeout = float(meta.get("timeout", 60.0))
    scratch = Path(cfg.scratch) / re.sub(r"[^A-Za-z0-9_.-]", "_", meta["id"]) / name
    spec = ChildSpec(
        module_path=module,
        module_name=cfg.module_name,
        submission_root=module.parent,
        driver_path=Path(cfg.driver_path),
        scratch=scratch,
        limits=Limits(cpu_s=int(timeout) + 5),
        driver_options=driver_options or {},
        hash_seed=hash_seed,
        readable=(request.config.stash[SOCKETS_KEY],),
        reply_schemas=replies_for(cfg.exercise),
    )
    child = Child(spec, request.config.stash[LAUNCHER_KEY])
    state.children.append(child)
    child.start()
    return Candidate(child, deadline=state.started + timeout)


@pytest.fixture
def candidate(request: pytest.FixtureRequest, _check_state: _CheckState) -> Candidate:
    """The submission, in a fresh sandboxed child for this check."""
    faults = request.config.stash[IMPORT_FAULT_KEY]
    if faults:
        return Candidate.unavailable(faults[0])
    cfg = request.config.stash[CONFIG_KEY]
    try:
        return _spawn(request, _check_state, Path(cfg.module_path), "candidate")
    except CandidateFault as fault:
        # An import that fails once fails the same way for every check: do not wait again.
        faults.append(fault)
        return Candidate.unavailable(fault)


@pytest.fixture
def reference(request: pytest.FixtureRequest, _check_state: _CheckState) -> Candidate:
    """The kit's reference solution in its own child, for same-run comparisons."""
    cfg = request.config.stash[CONFIG_KEY]
    try:
        return _spawn(request, _check_state, Path(cfg.reference_path), "reference")
    except CandidateFault as fault:  # the kit's own solution failing is the kit's fault
        raise RuntimeError(f"the reference solution could not start: {fault.message}") from None


@pytest.fixture
def spawn(request: pytest.FixtureRequest, _check_state: _CheckState) -> Callable[..., Candidate]:
    """Starts more processes of the submission: ``spawn(name, **driver_options)``.

    For checks that need several processes (shared state through Redis) or a process
    set up differently (a skewed clock). Each is its own sandboxed child.
    """
    faults = request.config.stash[IMPORT_FAULT_KEY]
    cfg = request.config.stash[CONFIG_KEY]

    def start(name: str, **driver_options: Any) -> Candidate:
        if faults:
            return Candidate.unavailable(faults[0])
        try:
            seed = zlib.crc32(name.encode())  # differs between processes, same every run
            return _spawn(request, _check_state, Path(cfg.module_path), name, driver_options, seed)
        except CandidateFault as fault:
            faults.append(fault)
            return Candidate.unavailable(fault)

    return start


@pytest.fixture
def redis_server(request: pytest.FixtureRequest) -> Server:
    """The session's real Redis, flushed for this check (started on first use)."""
    return request.config.stash[REDIS_KEY].get()


@pytest.fixture
def fault_proxy(request: pytest.FixtureRequest, redis_server: Server) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the Redis, on a unix socket in the folder
    every sandbox sees; clients that should meet faults connect to ``fault_proxy.url``."""
    path = request.config.stash[SOCKETS_KEY] / f"proxy-{next(_proxies)}.sock"
    with FaultProxy(redis_server.host, redis_server.port, listen_unix=path) as proxy:
        yield proxy


@pytest.fixture
def story(_check_state: _CheckState) -> Story:
    return _check_state.story


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A random.Random seeded from the profile and the check id (never the global one)."""
    cfg = request.config.stash[CONFIG_KEY]
    return random.Random(check_seed(cfg.seed, _meta(request.node)["id"]))


# -- outcomes ---------------------------------------------------------------


def _busy(exc: BaseException) -> bool:
    """True for Redis refusing the grader because a script never ends: the candidate
    may run scripts, and only its script can keep Redis busy."""
    return isinstance(exc, redis.exceptions.ResponseError) and str(exc).startswith("BUSY")


def classify(exc: BaseException | None) -> Status:
    """Maps how a check ended to its status; anything unexpected is the kit's fault."""
    if exc is None:
        return "passed"
    if isinstance(exc, CandidateFault):
        return exc.status
    if _busy(exc):
        return "timed_out"
    if isinstance(exc, AssertionError):
        return "failed"
    if isinstance(exc, BaseExceptionGroup) and all(classify(e) == "failed" for e in exc.exceptions):
        return "failed"
    return "infra_error"


def _evidence(exc: BaseException, state: _CheckState | None, status: Status) -> Evidence:
    notes = [str(n) for n in getattr(exc, "__notes__", [])]
    counter = "\n".join(n for n in notes if n.startswith(("Falsifying", "Draw", "Trying")))
    blob = next((n.strip() for n in notes if "reproduce_failure" in n), None)
    if isinstance(exc, CandidateFault):
        summary = exc.message
    elif _busy(exc):
        summary = f"a script of the candidate kept Redis busy past its time limit ({exc})"
    elif isinstance(exc, NoRedis):
        summary = f"infra error: no Redis, so this check could not run: {exc}"
    elif status == "infra_error":
        summary = (
            f"the grader itself failed ({type(exc).__name__}: {exc}); not the candidate's fault"
        )
    else:
        summary = str(exc).split("\n\n")[0].strip() or type(exc).__name__
    story = list(state.story.lines) if state else []
    if isinstance(exc, CandidateRaised) and exc.traceback:
        story.append("candidate traceback:\n" + exc.traceback.strip())
    if isinstance(exc, CandidateFault) and exc.detail:
        story.append(exc.detail.strip())
    logs = [c.log_excerpt() for c in state.children] if state else []
    return Evidence(
        summary=summary,
        story=story,
        counterexample=counter or None,
        reproduce_blob=blob,
        log_excerpt=next((log for log in logs if log), None),
        timeline=state.story.timeline if state else None,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "teardown" or (call.when == "setup" and call.excinfo is None):
        return report
    cfg = item.config.stash[CONFIG_KEY]
    meta = _meta(item)
    state = item.stash.get(STATE_KEY, None)
    exc = call.excinfo.value if call.excinfo else None
    status = classify(exc)
    started = state.started if state else call.start
    result = CheckResult(
        id=meta["id"],
        title=meta["title"],
        part=meta["part"],
        dimension=meta["dimension"],
        points=meta["points"] if status == "passed" else 0.0,
        max_points=meta["points"],
        status=status,
        evidence=None if exc is None else _evidence(exc, state, status),
        replay=f"{cfg.replay_base} --check {meta['id']}",
        duration_s=round(time.monotonic() - started, 3),
    )
    item.config.stash[RESULTS_KEY].append(result)
    _progress(item.config, {"done": result.id, "status": result.status, "title": result.title})
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    cfg = session.config.stash.get(CONFIG_KEY, None)
    if cfg is None:
        return
    if Path(cfg.results_path).exists():  # a usage error was already reported there
        return
    results = session.config.stash[RESULTS_KEY]
    launcher = session.config.stash[LAUNCHER_KEY]
    payload = {
        "isolation": launcher.isolation,
        "isolation_detail": launcher.detail,
        "isolation_degraded": launcher.degraded,
        "redis": session.config.stash[REDIS_KEY].report(),
        "checks": [asdict(r) for r in results],
        "order": session.config.stash.get(ORDER_KEY, []),
    }
    Path(cfg.results_path).write_text(json.dumps(payload), encoding="utf-8")
