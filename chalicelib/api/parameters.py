"""Path parameters, in one table read by the router (what each may hold, and the value a view receives) and by
the OpenAPI builder (what the document says of it)."""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import InvalidOperation
from typing import Any

from chalicelib.domain import moments, patterns
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.patterns import KEY_ID_PATTERN
from chalicelib.domain.user_ref import canonical

MAX_PARAMETER_CHARS = 255
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


class Invalid(ValueError):
    """What is wrong with one parameter's value, and the error type the answer names."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _uuid(raw: str) -> Any:
    import uuid  # it loads `platform` too: a cold start of any other route need not pay for it

    try:
        return uuid.UUID(raw)
    except ValueError:
        raise Invalid("must be a UUID", "uuid_parsing") from None


def _moment(*, end_of_day: bool) -> Callable[[str], datetime]:
    def parse(raw: str) -> datetime:
        try:
            return moments.parse(raw, end_of_day=end_of_day)
        except (ValueError, OverflowError, InvalidOperation):
            raise Invalid(f"must be {moments.DESCRIPTION}", "datetime_parsing") from None

    return parse


@dataclass(frozen=True)
class PathParameter:
    """`schema` is the document's; `pattern` (the schema's, when it has one) is checked first, then `parse` makes
    the view's value (raising Invalid); `description` is said in the document."""

    schema: dict[str, Any]
    parse: Callable[[str], Any] = str
    description: str | None = None
    pattern: re.Pattern[str] | None = field(init=False)

    def __post_init__(self) -> None:
        text = self.schema.get("pattern")
        object.__setattr__(self, "pattern", re.compile(text) if text else None)


_BOUND = {"anyOf": [{"type": "string", "pattern": f"^{pattern.pattern}$"} for pattern in moments.PATTERNS]}
_BOUND_TEXT = ("ISO 8601 date (the whole day counts), ISO 8601 date-time (naive means UTC), or Unix seconds; "
               "start <= timestamp <= end")

_UUID_TEXT = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"

PATH_PARAMETERS: dict[str, PathParameter] = {
    "username": PathParameter({"type": "string", "pattern": patterns.USERNAME.anchored}),
    # A user is named by username or by id, and a UUID is spelled with username characters.
    "user_id": PathParameter({"type": "string", "pattern": patterns.USERNAME.anchored}, canonical,
                             "a user id (UUID) or username"),
    "ticker": PathParameter({"type": "string", "pattern": patterns.TICKER.any_case().anchored}, str.upper,
                            "matched in any case"),
    "key_id": PathParameter({"type": "string", "pattern": KEY_ID_PATTERN}),
    "transaction_id": PathParameter({"type": "string", "format": "uuid"}, _uuid),
    "start": PathParameter({**_BOUND, "examples": ["2026-01-01"]}, _moment(end_of_day=False), _BOUND_TEXT),
    "end": PathParameter({**_BOUND, "examples": ["2026-12-31"]}, _moment(end_of_day=True), _BOUND_TEXT),
    "asset": PathParameter({"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,100}$"}),
    "order_id": PathParameter({"type": "string", "format": "uuid"}, _uuid),
    "lookup": PathParameter({"type": "string", "pattern": r"^[A-Za-z0-9_:.\-]{1,40}$"}, str,
                            "orders:by_client_order_id"),
    # A UUID is no ticker (too long), and upper case spells the same UUID.
    "symbol": PathParameter({"type": "string",
                             "pattern": f"^(?:{patterns.TICKER.any_case().regex}|{_UUID_TEXT})$"}, str.upper,
                            "a ticker in any case, or an asset id"),
    "activity_type": PathParameter({"type": "string", "pattern": r"^[A-Za-z]{2,10}$"}, str.upper,
                                   "FILL, CSD, CSW or another of Alpaca's activity types"),
}


def decoded(raw: dict[str, str]) -> dict[str, str]:
    """Path parameters, percent-decoded; each printable ASCII within its pattern, else a 400 naming it."""
    found = {name: urllib.parse.unquote(value) for name, value in raw.items()}
    problems = {name: _problem(name, value) for name, value in found.items()}
    details = [{"field": name, "message": problem, "type": "path"} for name, problem in problems.items() if problem]
    if details:
        raise ValidationFailed.naming(details)
    return found


def parsed(found: dict[str, str]) -> dict[str, Any]:
    """The values views receive; every parameter that cannot be read is named in one 400."""
    values: dict[str, Any] = {}
    details = []
    for name, raw in found.items():
        try:
            values[name] = PATH_PARAMETERS[name].parse(raw)
        except Invalid as invalid:
            details.append({"field": name, "message": str(invalid), "type": invalid.kind})
    if "start" in values and "end" in values and values["start"] > values["end"]:
        details.append({"field": "start", "message": "must not be after end", "type": "range"})
    if details:
        raise ValidationFailed.naming(details)
    return values


def printable(value: str) -> bool:
    return len(value) <= MAX_PARAMETER_CHARS and PRINTABLE_ASCII.fullmatch(value) is not None


def _problem(name: str, value: str) -> str:
    if not printable(value):
        return f"must be at most {MAX_PARAMETER_CHARS} printable ASCII characters"
    parameter = PATH_PARAMETERS.get(name)
    if parameter is not None and parameter.pattern is not None and not parameter.pattern.fullmatch(value):
        return f"must match {parameter.schema['pattern']}"
    return ""
