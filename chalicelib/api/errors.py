"""The errors only an HTTP edge raises, and the one table that gives every error its HTTP status; each surface
renders the body (chalicelib/api/classic/errors.py)."""
from __future__ import annotations

from chalicelib.domain.errors import (
    BadValue,
    Conflict,
    Error,
    NotFound,
    Refused,
    Unavailable,
    ValidationFailed,
)


class MalformedRequest(Error):
    code = "malformed_request"


class Unauthorized(Error):
    code = "unauthorized"


class Forbidden(Error):
    code = "forbidden"


class MethodNotAllowed(Error):
    code = "method_not_allowed"


class PayloadTooLarge(Error):
    code = "payload_too_large"


class UnsupportedMediaType(Error):
    code = "unsupported_media_type"


class TooManyRequests(Error):
    code = "too_many_requests"


class InternalError(Error):
    code = "internal_error"


class GatewayAnswer(Error):
    """An error the framework answered itself (Chalice's 405, say), given the API's shape."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


# Looked up along each error's classes, most specific first: DatabaseUnavailable is an Unavailable.
STATUS: dict[type[Error], int] = {
    ValidationFailed: 400, BadValue: 400, MalformedRequest: 400, Refused: 400,
    Unauthorized: 401, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, Conflict: 409,
    PayloadTooLarge: 413, UnsupportedMediaType: 415, TooManyRequests: 429,
    InternalError: 500, Unavailable: 503,
}


def status_of(error: Error) -> int:
    if isinstance(error, GatewayAnswer):
        return error.status
    return next((STATUS[kind] for kind in type(error).__mro__ if kind in STATUS), 400)
