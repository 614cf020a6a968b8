"""``report.json``: the machine-readable report, checked against ``schema.json``.

The schema (JSON Schema draft 2020-12) is the published contract for every tool
that reads reports (``dskata compare``, CI, dashboards). Writing validates first,
so the kit never publishes a report its own readers would refuse.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators

from dskata.errors import KitError, UsageError
from dskata.report._files import write_text_atomic
from dskata.results import Report, report_from_dict

SCHEMA_VERSION = 1
_MAX_PROBLEMS = 10


class InvalidReport(UsageError):
    """Raised when a report document does not match the schema or cannot be read.

    A usage error (exit 2) because the usual source is a file handed to
    ``dskata compare``; ``write_json`` turns it into a KitError, since there the
    kit itself produced the bad document.
    """


@cache
def schema() -> dict[str, Any]:
    """Returns the report JSON Schema shipped with the package."""
    text = resources.files("dskata.report").joinpath("schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _is_strict_integer(checker: object, instance: object) -> bool:
    # JSON Schema counts 1.0 as an integer; a part or a schema version written as
    # 1.0 would come back from json.loads as a float, so the kit insists on 1.
    return isinstance(instance, int) and not isinstance(instance, bool)


# Draft 2020-12 with exact integers: "types exact" for everything the kit reads back.
# (The jsonschema stubs leave ``extend`` untyped; it returns a validator class.)
_StrictValidator: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


@cache
def _validator() -> Draft202012Validator:
    return _StrictValidator(schema())


def validate(data: dict[str, Any]) -> None:
    """Checks a ``report.json`` document; raises InvalidReport listing what is wrong."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        # Clearer than "1 was expected" for the one mismatch people will hit.
        raise InvalidReport(
            f"report has schema_version {version}, written by a newer dskata; this kit "
            f"reads version {SCHEMA_VERSION}: upgrade dskata to read it"
        )
    if isinstance(version, int) and version != SCHEMA_VERSION:
        raise InvalidReport(
            f"report has schema_version {version}; this kit reads version {SCHEMA_VERSION}"
        )
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{e.json_path}: {e.message}" for e in errors[:_MAX_PROBLEMS]]
        if len(errors) > _MAX_PROBLEMS:
            lines.append(f"… and {len(errors) - _MAX_PROBLEMS} more")
        raise InvalidReport("report does not match its schema:\n  " + "\n  ".join(lines))


def dumps(report: Report) -> str:
    """Returns the validated JSON text of ``report``; raises KitError if it is invalid."""
    data = report.to_dict()
    try:
        validate(data)
        # allow_nan=False: NaN/Infinity are not JSON, and a reader would reject them.
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (InvalidReport, ValueError) as exc:
        raise KitError(f"the kit built an invalid report: {exc}") from exc


def write_json(report: Report, path: Path) -> None:
    """Validates ``report`` and writes it to ``path``; raises KitError on a mismatch.

    Nothing is written when validation fails.
    """
    write_text_atomic(path, dumps(report))


def load_report(path: Path) -> Report:
    """Reads, validates and rebuilds a report; raises InvalidReport when it cannot."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidReport(f"cannot read report {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidReport(f"{path} is not a JSON report: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidReport(f"{path} is not a JSON report: the top level is not an object")
    if "schema_version" not in data or "checks" not in data:
        raise InvalidReport(
            f"{path} is not a dskata report (no schema_version or checks); "
            "give the report.json that dskata grade wrote"
        )
    try:
        validate(data)
    except InvalidReport as exc:
        raise InvalidReport(f"{path}: {exc}") from None
    return report_from_dict(data)
