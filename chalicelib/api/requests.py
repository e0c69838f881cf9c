"""Reading a request: the JSON body, the headers and path parameters a route takes, each bounded and checked
before any service sees it."""
from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from chalice.app import Request

from chalicelib.api.responses import JSON_TYPE
from chalicelib.config import get_settings
from chalicelib.domain.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

if TYPE_CHECKING:
    import uuid

def json_body(request: Request) -> Any:
    """The request body as JSON, numbers as Decimal (never float), with the size and type rules of the API."""
    raw = request.raw_body or b""
    limit: int = get_settings().max_body_bytes
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    content_type = (request.headers.get("content-type") or JSON_TYPE).split(";")[0].strip().lower()
    if not (content_type == JSON_TYPE or content_type.endswith("+json")):
        raise UnsupportedMediaType(f"expected Content-Type {JSON_TYPE}, got {content_type!r}")
    if not raw.strip():
        raise MalformedRequest("request body is empty; expected a JSON object")
    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedRequest("request body must be a JSON object")
    return body


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def idempotency_key(request: Request) -> str | None:
    key: str | None = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not (key.isascii() and key.isprintable()):
        raise ValidationFailed(
            "Invalid request: Idempotency-Key",
            [{"field": "Idempotency-Key", "message": "must be 1-255 printable ASCII characters", "type": "header"}],
        )
    return key


def transaction_id(raw: str) -> uuid.UUID:
    import uuid  # it loads `platform` too: a cold start of any other route need not pay for it

    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed.naming([{"field": "transaction_id", "message": "must be a UUID",
                                        "type": "uuid_parsing"}]) from None


UNIX_SECONDS = re.compile(r"-?\d{1,12}(\.\d{1,6})?")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")
BOUND_PATTERNS = (UNIX_SECONDS, DATE, DATE_TIME)


def time_range(start: str, end: str) -> tuple[datetime, datetime]:
    """start <= timestamp <= end, each bound an ISO 8601 date (the whole day counts), date-time (naive means
    UTC) or Unix seconds; a malformed bound or start after end is a 400."""
    details = []
    bounds: dict[str, datetime] = {}
    for name, raw in (("start", start), ("end", end)):
        try:
            bounds[name] = _bound(raw, end=name == "end")
        except (ValueError, OverflowError, InvalidOperation):
            details.append({"field": name, "message": "must be an ISO 8601 date or date-time, or Unix seconds",
                            "type": "datetime_parsing"})
    if not details and bounds["start"] > bounds["end"]:
        details.append({"field": "start", "message": "must not be after end", "type": "range"})
    if details:
        raise ValidationFailed.naming(details)
    return bounds["start"], bounds["end"]


def _bound(raw: str, *, end: bool) -> datetime:
    if UNIX_SECONDS.fullmatch(raw):
        seconds = Decimal(raw)
        return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(seconds * 1_000_000))
    if DATE.fullmatch(raw):
        day = datetime.combine(date.fromisoformat(raw), time(0), UTC)
        return day + timedelta(days=1, microseconds=-1) if end else day
    if not DATE_TIME.fullmatch(raw):
        raise ValueError("not a bound")
    moment = datetime.fromisoformat(raw)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
