"""Domain and request errors. Each carries its HTTP status and a stable code; the HTTP layer renders them."""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(ApiError):
    status = 400
    code = "validation_error"

    @classmethod
    def naming(cls, details: list[dict[str, Any]]) -> ValidationFailed:
        """A 400 that names every offending field in its message and describes each in its details."""
        fields = ", ".join(dict.fromkeys(str(detail.get("field") or "body") for detail in details))
        return cls(f"Invalid request: {fields}", details)


class MalformedRequest(ApiError):
    status = 400
    code = "malformed_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not serve (down, restarting, unreachable, too slow): the same work may succeed once it
    is back."""

    def __init__(self) -> None:
        super().__init__("the database is unavailable; try again shortly")


class Refused(ApiError):
    """What is available does not cover the request (an order's pre-check, a withdrawal): nothing was created.
    The code is the reason (insufficient_funds, ...)."""

    status = 400

    def __init__(self, reason: str, message: str, field: str = "transaction_volume") -> None:
        super().__init__(message, [{"field": field, "reason": reason}])
        self.code = reason


class InternalError(ApiError):
    status = 500
    code = "internal_error"
