"""This surface's error body, as Alpaca's clients read it: a top-level {"code": <8-digit int>, "message": str}
(alpaca-py's APIError parses both), with Alpaca's statuses: 403 for what the account lacks (buying power,
shares), 422 for an order it will not take (invalid, unsupported, or no longer open)."""
from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.api.errors import status_of
from chalicelib.api.responses import json_response
from chalicelib.domain.errors import Conflict, Error, Refused, ValidationFailed

# Alpaca's statuses for what the classic surface answers otherwise.
STATUS: dict[type[Error], int] = {Refused: 403, ValidationFailed: 422, Conflict: 422}


def status(error: Error) -> int:
    return next((STATUS[kind] for kind in type(error).__mro__ if kind in STATUS), None) or status_of(error)


def code(status_code: int) -> int:
    """Alpaca's 8-digit code: the status, then a zero detail (40310000: forbidden, 42210000: unprocessable)."""
    return status_code * 100_000


def render(error: Error, headers: dict[str, Any] | None = None) -> Response:
    answered = status(error)
    message = error.message
    if error.details and isinstance(error, ValidationFailed):
        message += ": " + "; ".join(f"{d.get('field', 'body')}: {d.get('message', '')}" for d in error.details)
    return json_response({"code": code(answered), "message": message}, answered, headers)
