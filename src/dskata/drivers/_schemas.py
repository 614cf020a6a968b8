"""JSON-schema pieces the drivers' ``REPLIES`` tables are built from.

Plain data (standard library only): the drivers import this in the child, the
grading process validates with it (``dskata.sandbox.replies``). Types are checked
exactly there: ``INT`` never matches ``1.0`` or ``True``.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

NULL: Schema = {"type": "null"}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
STRING: Schema = {"type": "string"}
ANY: Schema = {}

# The shim's description of an exception (``describe_exception``).
RAISED: Schema = {
    "type": "object",
    "required": ["type", "mro", "message"],
    "properties": {
        "type": STRING,
        "mro": {"type": "array", "items": STRING},
        "message": STRING,
        "traceback": STRING,
    },
    "additionalProperties": False,
}


def array(items: Schema, *, length: int | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if length is not None:
        schema["minItems"] = schema["maxItems"] = length
    return schema


def record(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with exactly these fields (the optional ones may be missing)."""
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
    }


def mapping(values: Schema) -> Schema:
    """An object whose every value fits ``values`` (keys are ids the grader chose)."""
    return {"type": "object", "additionalProperties": values}


def one_of(*schemas: Schema) -> Schema:
    return {"anyOf": list(schemas)}


def nullable(schema: Schema) -> Schema:
    return one_of(NULL, schema)


def tuple_of(*items: Schema) -> Schema:
    return {"type": "array", "prefixItems": list(items), "items": False,
            "minItems": len(items)}  # fmt: skip
