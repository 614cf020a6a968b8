"""The child side of the sandbox: a tiny server around the candidate's module.

Runs as ``python -s -P shim.py CONFIG_JSON`` in a fresh process. It applies its
own resource limits first (a launcher in the child avoids ``preexec_fn``, which is
not thread-safe in the grading process), loads the exercise driver and the
candidate's module by file path (so a ``json.py`` in the submission cannot shadow
the standard library: the submission folder goes *last* on ``sys.path``), then
answers JSON-line requests on the pipe it was given. Nothing here is trusted by
the parent: every reply is validated there.

Standard library only: this file must run with nothing but the interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
import traceback
from typing import Any

_LIMITS = {
    "cpu_s": resource.RLIMIT_CPU,
    "address_space": resource.RLIMIT_AS,
    "file_size": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
    "processes": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE,
}
_TEXT_CAP = 4000


def _apply_limits(limits: dict[str, int], grader_uid: int) -> None:
    for name, value in limits.items():
        which = _LIMITS[name]
        if name == "processes" and os.getuid() in (0, grader_uid):
            # RLIMIT_NPROC counts every process of the uid (and nothing for root): only
            # a uid the launcher leased for this sandbox alone makes it a sandbox limit.
            continue
        # CPU gets a hard limit one second above the soft one: SIGXCPU first, then SIGKILL.
        hard = value + 1 if name == "cpu_s" else value
        resource.setrlimit(which, (value, hard))


def _text(value: object) -> str:
    try:
        text = str(value)
    except BaseException:  # a hostile __str__ must not take the shim down
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= _TEXT_CAP else text[:_TEXT_CAP] + "…"


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """Returns an exception as JSON data: its type, the names in its MRO, message, traceback."""
    try:
        tb = "".join(traceback.format_exception(exc))
    except BaseException:
        tb = ""
    return {
        "type": type(exc).__name__,
        "mro": [c.__name__ for c in type(exc).__mro__],
        "message": _text(exc),
        "traceback": tb[-_TEXT_CAP:],
    }


def _load(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Channel:
    def __init__(self, request_fd: int, reply_fd: int) -> None:
        self._reader = os.fdopen(request_fd, "rb")
        self._reply_fd = reply_fd

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        view = memoryview(data)
        while view:
            written = os.write(self._reply_fd, view)
            view = view[written:]

    def receive(self) -> dict[str, Any] | None:
        line = self._reader.readline()
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("request is not an object")
        return message


def _serve(channel: _Channel, driver: Any) -> None:
    while True:
        request = channel.receive()
        if request is None:
            return
        rid = request["id"]
        handler = getattr(driver, "op_" + str(request["op"]), None)
        if handler is None:
            channel.send({"id": rid, "protocol_error": f"unknown op {request['op']!r}"})
            continue
        try:
            result = handler(**request.get("args", {}))
        except BaseException as exc:  # the candidate's failure is an answer, not our crash
            channel.send({"id": rid, "raised": describe_exception(exc)})
            continue
        try:
            channel.send({"id": rid, "result": result})
        except (TypeError, ValueError) as exc:
            channel.send({"id": rid, "raised": describe_exception(exc)})


def main() -> None:
    config = json.loads(sys.argv[1])
    _apply_limits(config["limits"], config.get("grader_uid", 0))
    channel = _Channel(config["request_fd"], config["reply_fd"])
    driver_module = _load("_dskata_driver", config["driver_path"])
    # Before the candidate's import: e.g. a skewed clock must already be in place
    # for a module that does ``from time import time``.
    setup = getattr(driver_module, "setup", None)
    if setup is not None:
        setup(config.get("driver_options", {}))
    # Last on sys.path: the candidate's helper modules import, the stdlib is not shadowed.
    sys.path.append(config["submission_root"])
    try:
        candidate = _load(config["module_name"], config["module_path"])
    except BaseException as exc:  # SystemExit at import is an import failure too
        channel.send({"id": 0, "import_error": describe_exception(exc)})
        return
    driver = driver_module.Driver(candidate)
    channel.send({"id": 0, "hello": {"pid": os.getpid()}})
    _serve(channel, driver)


if __name__ == "__main__":
    main()
