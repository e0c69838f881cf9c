"""JSON answers, the paging headers of lists, and what an unexpected failure means to a client."""
from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any

from chalice.app import Request, Response

from chalicelib.adapters.logs import get_logger
from chalicelib.api.errors import InternalError
from chalicelib.domain.errors import Error, Unavailable

if TYPE_CHECKING:
    pass

JSON_TYPE = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, Any] | None = None) -> Response:
    # Serialised here, not by Chalice: its encoder would turn a stray Decimal into a float.
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        # nosniff: a browser must never run an answer as anything but the JSON it is.
        headers={"Content-Type": JSON_TYPE, "X-Content-Type-Options": "nosniff", **(headers or {})},
    )


def page_response(request: Request, items: list[Any], next_cursor: str | None) -> Response:
    """A list stays a JSON array; the next page is named in the Link and X-Next-Cursor headers."""
    if next_cursor is None:
        return json_response(items)
    params = {**dict(request.query_params or {}), "cursor": next_cursor}
    path = request.context.get("path") or ""
    link = f"{path}?{urllib.parse.urlencode(params)}"
    return json_response(items, headers={"Link": f'<{link}>; rel="next"', "X-Next-Cursor": next_cursor})


def classify(exc: Exception) -> Error:
    """What an exception no layer gave a meaning means to the client: what the database said, in the domain's
    words (chalicelib/adapters/database.py: a value it cannot take is a 400, an outage a 503), a dependency that
    did not answer (503), else a bug (500)."""
    from chalicelib.adapters.database import raise_as_domain_error  # only failures pay for it

    try:
        raise_as_domain_error(exc)
    except Error as meant:
        return meant
    if isinstance(exc, (TimeoutError, ConnectionError)):
        # A socket error no driver wrapped (pg8000 during a pool ping, say): a dependency, not the request.
        get_logger().warning("dependency unavailable", extra={"event": "dependency_unavailable",
                                                              "error": f"{type(exc).__name__}: {exc}"})
        return Unavailable("a service this API depends on did not answer; try again shortly")
    get_logger().exception("unhandled error", extra={"event": "unhandled_error"})
    return InternalError("an internal error occurred")
