"""This surface's error body, the one shape of every failed answer: {"error": {"code", "message", "details"}}."""
from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.api.errors import status_of
from chalicelib.api.responses import json_response
from chalicelib.domain.errors import Error


def render(error: Error, headers: dict[str, Any] | None = None) -> Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return json_response(body, status_of(error), headers)
