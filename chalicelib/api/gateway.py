"""API Gateway's own answers, given the API's one error shape."""
from __future__ import annotations

from typing import Any

# API Gateway answers some requests before any function runs (no such route, too large, throttled, the function
# failed or timed out). Its gateway responses give those the same error shape: declared for AWS in
# .chalice/merge-template.json, emulated locally by devstack/wsgi.py, both from this table.
# type -> (status, or None to keep API Gateway's own, code, message)
GATEWAY_RESPONSES: dict[str, tuple[int | None, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "no route matches this method and path"),
    # No key, or one the authorizer refused (malformed, unknown, revoked); nothing says whether the user exists.
    "UNAUTHORIZED": (401, "unauthorized", "a valid API key is required: Authorization: Bearer <api key>"),
    "ACCESS_DENIED": (403, "forbidden", "this key may not call this route"),
    # The authorizer could not check the key (its database or cache did not answer).
    "AUTHORIZER_FAILURE": (503, "service_unavailable", "the API key could not be checked; try again shortly"),
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "the request is larger than the API accepts"),
    "THROTTLED": (429, "too_many_requests", "too many requests; slow down and retry"),
    "DEFAULT_4XX": (None, "bad_request", "the API gateway refused the request"),
    "DEFAULT_5XX": (None, "service_unavailable", "the service could not answer; try again shortly"),
}


# Headers a gateway response carries besides Content-Type.
GATEWAY_HEADERS: dict[str, dict[str, str]] = {"UNAUTHORIZED": {"WWW-Authenticate": "Bearer"}}


def gateway_error_body(response_type: str) -> dict[str, Any]:
    """One body for both surfaces, because a gateway response's template is the same for every path (API Gateway
    substitutes variables in it but runs no logic): the classic surface's `error` object, and beside it the /v2
    surface's top-level `code` (Alpaca's 8-digit number: the status x 100000) and `message`."""
    status, code, message = GATEWAY_RESPONSES[response_type]
    number = (status or (500 if response_type == "DEFAULT_5XX" else 400)) * 100_000
    return {"code": number, "message": message, "error": {"code": code, "message": message, "details": []}}
