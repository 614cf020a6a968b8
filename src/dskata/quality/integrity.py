"""Integrity signals: an AST scan of the submission for imports and calls that neither a
solution nor its tests have any business needing (frame inspection, the garbage
collector's object graph, raw memory, hard exits, rewiring ``sys.modules``, spawning
processes, opening sockets). Information for the interviewer, never points: each
one may have an innocent reason, to be asked about.
"""

from __future__ import annotations

import ast
from pathlib import Path

from dskata.results import IntegritySignal

_MODULES = {
    "gc": "imports gc (can reach other objects through the garbage collector)",
    "inspect": "imports inspect (can read the caller's frames and source)",
    "ctypes": "imports ctypes (raw memory and C calls)",
    "subprocess": "imports subprocess (starts other programs)",
    "socket": "imports socket (opens network connections)",
}
_CALLS = {
    "sys._getframe": "calls sys._getframe (reads the caller's frames)",
    "inspect.stack": "calls inspect.stack (reads the caller's frames)",
    "inspect.currentframe": "calls inspect.currentframe (reads frames)",
    "os._exit": "calls os._exit (ends the process without cleanup)",
    "os.system": "calls os.system (runs a shell command)",
    "gc.get_objects": "calls gc.get_objects (walks every live object)",
    "gc.get_referrers": "calls gc.get_referrers (walks the object graph)",
}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _writes_sys_modules(node: ast.AST) -> bool:
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.Delete):
        targets = node.targets if isinstance(node, ast.Delete) else [node.target]
    subs = [t for t in targets if isinstance(t, ast.Subscript)]
    if any(_dotted(t.value) == "sys.modules" for t in subs):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _dotted(node.func.value) == "sys.modules" and node.func.attr in (
            "pop",
            "update",
            "setdefault",
            "clear",
            "__setitem__",
            "__delitem__",
        )
    return False


def scan_source(source: str, name: str) -> list[IntegritySignal]:
    """Returns the signals found in one file's ``source`` (none when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[IntegritySignal] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in _MODULES:
                    found.append(IntegritySignal(name, line, _MODULES[top]))
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in _MODULES:
                found.append(IntegritySignal(name, line, _MODULES[top]))
            for alias in node.names:
                what = _CALLS.get(f"{node.module}.{alias.name}")
                if what:
                    found.append(IntegritySignal(name, line, what.replace("calls", "imports")))
        elif isinstance(node, ast.Call) and _dotted(node.func) in _CALLS:
            found.append(IntegritySignal(name, line, _CALLS[_dotted(node.func)]))
        if _writes_sys_modules(node):
            found.append(IntegritySignal(name, line, "writes to sys.modules (swaps modules)"))
    return sorted(found, key=lambda s: (s.line, s.what))


def scan_submission(root: Path) -> list[IntegritySignal]:
    """Scans every .py file of a staged submission; returns its signals in file order."""
    signals: list[IntegritySignal] = []
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        rel = path.relative_to(root).as_posix()
        if rel == "tests/redis_server.py":  # the kit's own helper, copied in by `dskata start`
            continue
        signals += scan_source(path.read_text(encoding="utf-8", errors="replace"), rel)
    return signals
