"""The HTTP edge: parse request bodies, render JSON answers, and map every error to the one error shape."""
from __future__ import annotations

import functools
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalice import Chalice, CORSConfig, Response
from chalice.app import Request

from chalicelib.config import get_settings
from chalicelib.errors import (
    ApiError,
    InternalError,
    MalformedRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.logs import get_logger

if TYPE_CHECKING:
    from pydantic import BaseModel

JSON_TYPE = "application/json"

# SQLSTATEs that mean "the database cannot serve now", not "the request is wrong".
_UNAVAILABLE_SQLSTATES = {"57014", "55P03", "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006"}

View = Callable[..., Response]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Serialised here, not by Chalice: its encoder would turn a stray Decimal into a float.
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        # nosniff: a browser must never run an answer as anything but the JSON it is.
        headers={"Content-Type": JSON_TYPE, "X-Content-Type-Options": "nosniff", **(headers or {})},
    )


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    return json_response(error.to_body(), error.status, headers)


def json_body(request: Request) -> Any:
    """The request body as JSON, numbers as Decimal (never float), with the size and type rules of the API."""
    raw = request.raw_body or b""
    if len(raw) > get_settings().max_body_bytes:
        raise PayloadTooLarge(f"request body exceeds {get_settings().max_body_bytes} bytes")
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


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not (key.isascii() and key.isprintable()):
        raise ValidationFailed(
            "Invalid request: Idempotency-Key",
            [{"field": "Idempotency-Key", "message": "must be 1-255 printable ASCII characters", "type": "header"}],
        )
    return key


def page_response(request: Request, items: list[Any], next_cursor: str | None) -> Response:
    """A list stays a JSON array; the next page is named in the Link and X-Next-Cursor headers."""
    if next_cursor is None:
        return json_response(items)
    params = {**dict(request.query_params or {}), "cursor": next_cursor}
    path = request.context.get("path") or ""
    link = f"{path}?{urllib.parse.urlencode(params)}"
    return json_response(items, headers={"Link": f'<{link}>; rel="next"', "X-Next-Cursor": next_cursor})


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


@dataclass(frozen=True)
class RouteSpec:
    """What a route takes and answers: the router validates with these models, and the OpenAPI document is
    generated from them, so the two cannot drift apart. Models are named as in `chalicelib.schemas`
    ("UserOut", "list[HoldingOut]") and loaded on first use, so importing the app loads no pydantic model."""

    path: str
    method: str
    name: str
    summary: str
    body: str | None
    query: str | None
    response: str | None
    status: int
    errors: tuple[int, ...]
    paged: bool
    headers: tuple[str, ...] = ()  # request headers the route reads, documented by name
    content_type: str = JSON_TYPE
    other_responses: tuple[tuple[int, str], ...] = ()  # (status, model) answered in a shape other than an error


def model(name: str) -> type[BaseModel]:
    """The shape `name` in chalicelib.schemas ("list[X]" names X)."""
    from chalicelib import schemas

    return getattr(schemas, name.removeprefix("list[").removesuffix("]"))  # type: ignore[no-any-return]


# What a browser on another origin may do. Deliberate: the API uses no cookies or browser credentials, so
# credentials are never allowed; the origin is a deploy-time choice (CORS_ALLOW_ORIGIN, "" turns CORS off).
CORS_ALLOW_HEADERS = ["Content-Type", "Idempotency-Key"]
CORS_EXPOSE_HEADERS = ["Link", "X-Next-Cursor", "Idempotent-Replayed"]


class Router:
    """Registers views on the Chalice app with one error mapping. A view receives the request, its path
    parameters, and, when the route declares them, the validated `body` and `query` models."""

    def __init__(self, app: Chalice, cors_origin: str = "") -> None:
        self._app = app
        self.specs: list[RouteSpec] = []
        self._cors = CORSConfig(allow_origin=cors_origin, allow_headers=CORS_ALLOW_HEADERS,
                                expose_headers=CORS_EXPOSE_HEADERS, max_age=600,
                                allow_credentials=False) if cors_origin else None

    def route(self, path: str, methods: tuple[str, ...] = ("GET",), *, summary: str,
              body: str | None = None, query: str | None = None, response: str | None = None,
              status: int = 200, errors: tuple[int, ...] = (), paged: bool = False,
              headers: tuple[str, ...] = (), content_type: str = JSON_TYPE,
              other_responses: tuple[tuple[int, str], ...] = ()) -> Callable[[View], View]:
        def register(view: View) -> View:
            @functools.wraps(view)
            def handle(**params: str) -> Response:
                try:
                    request = self._app.current_request
                    decoded = {name: urllib.parse.unquote(value) for name, value in params.items()}
                    if body is not None:
                        decoded["body"] = model(body).parse(json_body(request))  # type: ignore[attr-defined]
                    if query is not None:
                        query_params = dict(request.query_params or {})
                        decoded["query"] = model(query).parse(query_params)  # type: ignore[attr-defined]
                    return view(request, **decoded)
                except ApiError as error:
                    return error_response(error)
                except Exception as exc:  # noqa: BLE001 - every failure must still answer in the error shape
                    return error_response(_classify(exc))

            # Content types are checked by json_body, so a wrong one gets the API's error shape.
            self._app.route(path, methods=list(methods), content_types=["*/*"], cors=self._cors)(handle)
            for method in methods:
                self.specs.append(RouteSpec(path, method, view.__name__, summary, body, query, response, status,
                                            errors, paged, headers, content_type, other_responses))
            return view

        return register


def _classify(exc: Exception) -> ApiError:
    from sqlalchemy import exc as sa_exc  # imported late: only failures pay for it

    if isinstance(exc, (sa_exc.InterfaceError, sa_exc.OperationalError, sa_exc.TimeoutError)) or (
        isinstance(exc, sa_exc.DBAPIError) and _sqlstate(exc) in _UNAVAILABLE_SQLSTATES
    ):
        get_logger().warning("database unavailable", extra={"event": "database_unavailable", "error": str(exc)})
        return ServiceUnavailable("the database is unavailable; try again shortly")
    if isinstance(exc, (TimeoutError, ConnectionError)):
        # A socket error no driver wrapped (pg8000 during a pool ping, say): a dependency, not the request.
        get_logger().warning("dependency unavailable", extra={"event": "dependency_unavailable",
                                                              "error": f"{type(exc).__name__}: {exc}"})
        return ServiceUnavailable("a service this API depends on did not answer; try again shortly")
    get_logger().exception("unhandled error", extra={"event": "unhandled_error"})
    return InternalError("an internal error occurred")


def _sqlstate(exc: Any) -> str | None:
    args = getattr(getattr(exc, "orig", None), "args", None)
    if args and isinstance(args[0], dict):
        return args[0].get("C")
    return None


def normalize_chalice_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice answers some errors itself (405, 500) as {"Code", "Message"}; give them the API's shape."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "Message" in body:
        error = ApiError(str(body["Message"]))
        error.status = response.status_code
        error.code = _snake(str(body["Code"]))
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        return error_response(error, headers)
    return response


def _snake(name: str) -> str:
    name = name.removesuffix("Error") or name
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
