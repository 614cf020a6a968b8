"""A wrong limiter that looks for the hidden graders, the reference solution and the
seeds on disk (in the installed kit and in a source checkout) and, if it finds the
reference, runs it as its own: full marks without writing a line."""

from pathlib import Path

__hostile__ = {
    "attack": "reading hidden tests and the reference solution from disk",
    "base": "always_allow",
    "expect": "failed",
    # unshare hides only the kit's packaged content; a source checkout stays readable.
    "namespaces": "passed",
    "degraded": "passed",
    "leaks": {"namespaces": ["reference"], "degraded": ["reference"]},
}

_places = [Path("@@REPO@@")]
try:
    from dskata.catalog import content_root

    _places.insert(0, content_root())
except Exception:
    pass
_found = {}
for _root in _places:
    for _rel in ("reference_solutions/rate_limiter/rate_limiter.py", "graders/rate_limiter/test_part1.py", "seeds/default.toml"):
        try:
            _found[_rel] = (_root / _rel).read_text()
        except OSError:
            pass
_reference = _found.get("reference_solutions/rate_limiter/rate_limiter.py")
if _reference:
    exec(compile(_reference, "stolen.py", "exec"), globals())
