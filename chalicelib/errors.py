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


class MalformedRequest(ApiError):
    status = 400
    code = "malformed_request"


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


class InternalError(ApiError):
    status = 500
    code = "internal_error"


# API Gateway answers some requests before any function runs (no such route, too large, throttled, the function
# failed or timed out). Its gateway responses give those the same error shape: declared for AWS in
# .chalice/merge-template.json, emulated locally by devstack/wsgi.py, both from this table.
# type -> (status, or None to keep API Gateway's own, code, message)
GATEWAY_RESPONSES: dict[str, tuple[int | None, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "no route matches this method and path"),
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "the request is larger than the API accepts"),
    "THROTTLED": (429, "too_many_requests", "too many requests; slow down and retry"),
    "DEFAULT_4XX": (None, "bad_request", "the API gateway refused the request"),
    "DEFAULT_5XX": (None, "service_unavailable", "the service could not answer; try again shortly"),
}


def gateway_error_body(response_type: str) -> dict[str, Any]:
    _, code, message = GATEWAY_RESPONSES[response_type]
    return {"error": {"code": code, "message": message, "details": []}}
