"""Judges the shape of a child's result before any grader reads it.

Each driver declares, per op, the JSON schema of what it returns (``REPLIES`` in
``dskata/drivers/<slug>.py``). A candidate that patches the driver or the shim can
send anything; a result that does not fit is *tampered*, not a grader crash that
would end the check as the kit's fault. Types are exact: an ``integer`` is an
``int`` and never ``1.0`` or ``True``, a ``number`` is an ``int`` or ``float`` and
never a ``bool`` (JSON decoding gives plain types; the schema keeps them apart).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import Any

import jsonschema
import jsonschema.validators

_EXACT = {
    "integer": lambda _, x: type(x) is int,
    "number": lambda _, x: type(x) in (int, float),
    "boolean": lambda _, x: type(x) is bool,
    "string": lambda _, x: type(x) is str,
    "array": lambda _, x: type(x) is list,
    "object": lambda _, x: type(x) is dict,
    "null": lambda _, x: x is None,
}
_Base = jsonschema.Draft202012Validator
_ExactValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    _Base, type_checker=_Base.TYPE_CHECKER.redefine_many(_EXACT)
)


_validators: dict[int, tuple[Mapping[str, Any], Any]] = {}


def _validator(schema: Mapping[str, Any]) -> Any:
    # Keyed by identity: the schemas are module constants; the entry keeps it alive.
    entry = _validators.get(id(schema))
    if entry is None or entry[0] is not schema:
        _ExactValidator.check_schema(schema)
        entry = _validators[id(schema)] = (schema, _ExactValidator(schema))
    return entry[1]


def reply_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """Returns what is wrong with ``value`` for ``schema`` in a few words, or None."""
    validator = _validator(schema)
    if validator.is_valid(value):
        return None
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the result"
    return f"does not have the driver's shape at {where}: {error.message}"[:300]


@functools.cache
def replies_for(slug: str) -> Mapping[str, Any] | None:
    """The ``REPLIES`` table of an exercise's driver (op → schema), or None for a driver
    that declares none yet (its replies are then checked for framing and ids only)."""
    module = importlib.import_module(f"dskata.drivers.{slug}")
    replies: Mapping[str, Any] | None = getattr(module, "REPLIES", None)
    return replies
