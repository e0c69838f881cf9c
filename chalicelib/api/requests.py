"""Reading a request: the JSON body, the query and the headers a route takes, each bounded and checked before any
service sees it (path parameters: chalicelib/api/parameters.py)."""
from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalice.app import Request

from chalicelib.api.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from chalicelib.api.parameters import MAX_PARAMETER_CHARS, printable
from chalicelib.api.responses import JSON_TYPE
from chalicelib.config import get_settings
from chalicelib.domain.errors import ValidationFailed

if TYPE_CHECKING:
    pass

def query_parameters(request: Request) -> dict[str, str]:
    """Query parameters, one value each; printable ASCII and bounded, else a 400 naming them."""
    found = dict(request.query_params or {})
    details = [{"field": name, "message": f"must be at most {MAX_PARAMETER_CHARS} printable ASCII characters",
                "type": "query"} for name, value in found.items() if not printable(value)]
    if details:
        raise ValidationFailed.naming(details)
    return found


def json_body(request: Request) -> Any:
    """The request body as JSON, numbers as Decimal (never float), with the size and type rules of the API."""
    raw = request.raw_body or b""
    limit: int = get_settings().max_body_bytes
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    sent = request.headers.get("content-type")
    if sent is None:  # a body of unknown type is never guessed to be JSON
        raise UnsupportedMediaType(f"a request body needs Content-Type: {JSON_TYPE}")
    content_type = sent.split(";")[0].strip().lower()
    if not (content_type == JSON_TYPE or content_type.endswith("+json")):
        raise UnsupportedMediaType(f"expected Content-Type {JSON_TYPE}, got {content_type!r}")
    if not raw.strip():
        raise MalformedRequest("request body is empty; expected a JSON object")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise MalformedRequest("request body must be a JSON object")
    return body


# Input limits, said once (the README repeats them): JSON nested deeper than MAX_DEPTH, a number literal longer
# than MAX_NUMBER_CHARS or written with an exponent (1e2) is refused before anything converts it: the rules say
# digits, and converting 1e700000 to an int alone takes seconds of CPU.
MAX_DEPTH = 16
MAX_NUMBER_CHARS = 40
MAX_EXPONENT = 40
_STRING_LITERAL = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]")


def parse_json(raw: str | bytes) -> Any:
    """JSON as this API reads it: numbers as Decimal (never float) within bounds, no NaN or Infinity, no duplicate
    keys, nesting at most MAX_DEPTH deep. Anything else is a 400 that names what is wrong."""
    if isinstance(raw, str):
        raw = raw.encode()
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        _check_depth(raw)
    try:
        return json.loads(raw, parse_float=_bounded_decimal, parse_int=_bounded_int,
                          parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except _Refused as refused:
        raise MalformedRequest(f"request body is not accepted: {refused}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedRequest(f"request body is not valid JSON: {exc}") from None


class _Refused(ValueError):
    """Valid JSON this API will not read."""


def _check_depth(raw: bytes) -> None:
    # Only bodies with more brackets than the limit get here; brackets inside strings do not count.
    depth = 0
    for bracket in _NOT_A_BRACKET.sub(b"", _STRING_LITERAL.sub(b"", raw)):
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_DEPTH:
            raise MalformedRequest(f"request body is nested deeper than {MAX_DEPTH} levels")


def _bounded_decimal(literal: str) -> Decimal:
    _check_number_size(literal)
    if "e" in literal or "E" in literal:
        raise _Refused(f"number {literal} is in exponent notation; write it as digits")
    number = Decimal(literal)
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or abs(exponent) > MAX_EXPONENT or abs(number.adjusted()) > MAX_EXPONENT:
        raise _Refused(f"number {literal} is out of range (at most {MAX_EXPONENT} digits either side of the point)")
    return number


def _bounded_int(literal: str) -> int:
    _check_number_size(literal)
    return int(literal)


def _check_number_size(literal: str) -> None:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number is longer than {MAX_NUMBER_CHARS} characters")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        repeated = next(key for key, count in counts.items() if count > 1)
        raise _Refused(f"key {repeated!r} appears more than once in one object")
    return found


def _reject_constant(name: str) -> None:
    raise _Refused(f"{name} is not a JSON number")


IDEMPOTENCY_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]{1,255}")  # printable ASCII, no space, no comma


def idempotency_key(request: Request) -> str | None:
    """The one Idempotency-Key header. Servers join repeated headers with commas (API Gateway also lists them in
    the event's multiValueHeaders), so a comma or a second value means several keys were sent: a 400."""
    key: str | None = request.headers.get("idempotency-key")
    if key is None:
        return None
    repeated = {name.lower(): values for name, values in
                (request.to_original_event().get("multiValueHeaders") or {}).items()}.get("idempotency-key") or []
    if len(repeated) > 1 or "," in key:
        raise ValidationFailed.naming([{"field": "Idempotency-Key", "message": "send one Idempotency-Key header",
                                        "type": "header"}])
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationFailed.naming([{"field": "Idempotency-Key",
                                        "message": "must be 1-255 printable ASCII characters, no space or comma",
                                        "type": "header"}])
    return key
