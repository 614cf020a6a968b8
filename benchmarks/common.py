"""Where things are, and the reference solutions loaded by file path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
REFERENCES = ROOT / "reference_solutions"


def load_reference(slug: str, module: str) -> ModuleType:
    """Imports reference_solutions/<slug>/<module> under a private name, by file path
    (the way the sandbox imports a submission), so nothing on sys.path can shadow it."""
    name = f"_dskata_bench_reference_{slug}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REFERENCES / slug / module)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def missing(*modules: str) -> list[str]:
    """The named modules that cannot be imported (a library not installed)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]
