"""Routes declared with what they take and answer. The router parses and validates each request into the
declared shapes before the view runs, and maps every failure to the one error shape; the OpenAPI document is
generated from the same declarations, so the two cannot drift apart."""
from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from chalice.app import Chalice, CORSConfig, Response

from chalicelib.api.requests import json_body
from chalicelib.api.responses import JSON_TYPE, classify, error_response
from chalicelib.domain.errors import ApiError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from chalicelib.api.shapes import RequestModel

View = Callable[..., Response]

# What a browser on another origin may do. Deliberate: the API uses no cookies or browser credentials, so
# credentials are never allowed; the origin is a deploy-time setting (CORS_ALLOW_ORIGIN, "" turns CORS off).
CORS_ALLOW_HEADERS = ["Content-Type", "Idempotency-Key"]
CORS_EXPOSE_HEADERS = ["Link", "X-Next-Cursor", "Idempotent-Replayed"]


@dataclass(frozen=True)
class RouteSpec:
    """What a route takes and answers. Shapes are named as in `chalicelib.api.shapes` ("UserOut",
    "list[HoldingOut]") and loaded on first use, so importing the app loads no pydantic model."""

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
    other_responses: tuple[tuple[int, str], ...] = ()  # (status, shape) answered in a shape other than an error


def shape(name: str) -> type[BaseModel]:
    """The shape `name` in chalicelib.api.shapes ("list[X]" names X)."""
    from chalicelib.api import shapes

    return cast("type[BaseModel]", getattr(shapes, name.removeprefix("list[").removesuffix("]")))


def _request_shape(name: str) -> type[RequestModel]:
    return cast("type[RequestModel]", shape(name))


class Router:
    """Registers views on the Chalice app with one error mapping. A view receives the request, its path
    parameters, and, when the route declares them, the validated `body` and `query` shapes."""

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
                    if request is None:  # Chalice sets it before calling any view
                        raise RuntimeError("no current request")
                    decoded: dict[str, object] = {name: urllib.parse.unquote(value)
                                                  for name, value in params.items()}
                    if body is not None:
                        decoded["body"] = _request_shape(body).parse(json_body(request))
                    if query is not None:
                        decoded["query"] = _request_shape(query).parse(dict(request.query_params or {}))
                    return view(request, **decoded)
                except ApiError as error:
                    return error_response(error)
                except Exception as exc:  # noqa: BLE001 - every failure must still answer in the error shape
                    return error_response(classify(exc))

            # Content types are checked by json_body, so a wrong one gets the API's error shape.
            self._app.route(path, methods=list(methods), content_types=["*/*"], cors=self._cors)(handle)
            for method in methods:
                self.specs.append(RouteSpec(path, method, view.__name__, summary, body, query, response, status,
                                            errors, paged, headers, content_type, other_responses))
            return view

        return register
