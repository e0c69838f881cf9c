"""Routes declared with who may call them and what they take and answer. Before a view runs, the router counts
the request against its principal's rate limit (chalicelib.api.limits), parses and validates it into the declared
shapes, and holds the principal to the route's rule (chalicelib.api.access); it maps every failure to the one
error shape. The OpenAPI
document is generated from the same declarations, so the two cannot drift apart."""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from chalice.app import Chalice, CORSConfig, Request, Response

from chalicelib.api import access as access_module
from chalicelib.api import limits
from chalicelib.api.requests import json_body, path_parameters, query_parameters
from chalicelib.api.responses import JSON_TYPE, classify, error_response
from chalicelib.config import get_settings
from chalicelib.domain.errors import Error

if TYPE_CHECKING:
    from pydantic import BaseModel

    from chalicelib.adapters.rate_limit import Budget
    from chalicelib.api.shapes import RequestModel

View = Callable[..., Response]

# What a browser on another origin may do. Deliberate: the API uses no cookies or browser credentials, so
# credentials are never allowed; the origin is a deploy-time setting (CORS_ALLOW_ORIGIN, "" turns CORS off).
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
CORS_EXPOSE_HEADERS = ["Link", "X-Next-Cursor", "Idempotent-Replayed", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                       "X-RateLimit-Reset", "Retry-After", "WWW-Authenticate"]
# What every route that needs a key may also answer: no valid key, not this key's, too many requests.
KEYED_ERRORS = (401, 403, 429)


@dataclass(frozen=True)
class RouteSpec:
    """What a route takes and answers. Shapes are named as in `chalicelib.api.shapes` ("UserOut",
    "list[HoldingOut]") and loaded on first use, so importing the app loads no pydantic model."""

    path: str
    method: str
    name: str
    summary: str
    access: str  # chalicelib.api.access.PUBLIC, OWNER, OWNER_OR_ADMIN or ADMIN
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

    def __init__(self, app: Chalice, authorizer: Any, cors_origin: str = "") -> None:
        self._app = app
        self._authorizer = authorizer
        self.specs: list[RouteSpec] = []
        self._cors = CORSConfig(allow_origin=cors_origin, allow_headers=CORS_ALLOW_HEADERS,
                                expose_headers=CORS_EXPOSE_HEADERS, max_age=600,
                                allow_credentials=False) if cors_origin else None

    def route(self, path: str, methods: tuple[str, ...] = ("GET",), *, access: str, summary: str,
              body: str | None = None, query: str | None = None, response: str | None = None,
              status: int = 200, errors: tuple[int, ...] = (), paged: bool = False,
              headers: tuple[str, ...] = (), content_type: str = JSON_TYPE,
              other_responses: tuple[tuple[int, str], ...] = (), sign_up: bool = False,
              ) -> Callable[[View], View]:
        """`access` is required: no route exists without a rule. A public route's requests count against their
        source address: SIGNUP_LIMIT_PER_WINDOW for the `sign_up` route, PUBLIC_LIMIT_PER_WINDOW for the others."""
        if access not in access_module.RULES:
            raise ValueError(f"{path}: access must be one of {access_module.RULES}, not {access!r}")
        keyed = access != access_module.PUBLIC
        if "{" in path or query is not None:  # path and query parameters are checked before the view runs
            errors = tuple(dict.fromkeys((400, *errors)))
        # Every request counts against a limit: its principal's, or its source's.
        errors = tuple(dict.fromkeys((*KEYED_ERRORS, *errors) if keyed else (429, *errors)))

        def arguments(request: Request, params: dict[str, str],
                      principal: access_module.Principal | None) -> dict[str, object]:
            """The view's arguments: path parameters, the validated body and query; the principal is held to the
            route's rule on the way, before the body is read wherever the path or the rule alone decides."""
            decoded: dict[str, object] = dict(path_parameters(params))
            by_body = principal is not None and access_module.needs_body(access, decoded)
            if principal is not None and not by_body:
                access_module.check(access, principal, request.method, decoded, None)
            if body is not None:
                decoded["body"] = _request_shape(body).parse(json_body(request))
            if query is not None:
                decoded["query"] = _request_shape(query).parse(query_parameters(request))
            if principal is not None and by_body:
                access_module.check(access, principal, request.method, decoded, decoded.get("body"))
            return decoded

        def register(view: View) -> View:
            @functools.wraps(view)
            def handle(**params: str) -> Response:
                budget: Budget | None = None
                try:
                    request = self._app.current_request
                    if request is None:  # Chalice sets it before calling any view
                        raise RuntimeError("no current request")
                    principal = access_module.Principal.from_request(request) if keyed else None
                    if principal is not None:
                        budget = limits.admit_principal(principal)
                    else:
                        settings = get_settings()
                        budget = limits.admit_source(request, "signup" if sign_up else "public",
                                                     settings.signup_limit_per_window if sign_up
                                                     else settings.public_limit_per_window)
                    answer = view(request, **arguments(request, params, principal))
                except limits.TooManyRequests as refused:
                    answer = error_response(refused, refused.headers())
                except Error as error:
                    answer = error_response(error)
                except Exception as exc:  # noqa: BLE001 - every failure must still answer in the error shape
                    answer = error_response(classify(exc))
                if budget is not None:
                    answer.headers.update(budget.headers())
                return answer

            # Content types are checked by json_body, so a wrong one gets the API's error shape.
            self._app.route(path, methods=list(methods), content_types=["*/*"], cors=self._cors,
                            authorizer=self._authorizer if keyed else None)(handle)
            for method in methods:
                self.specs.append(RouteSpec(path, method, view.__name__, summary, access, body, query, response,
                                            status, errors, paged, headers, content_type, other_responses))
            return view

        return register
