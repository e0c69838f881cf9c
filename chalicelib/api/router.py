"""Routes declared with who may call them and what they take and answer, over one Chalice Blueprint per surface.
Before a view runs, the router counts the request against its principal's or its source's rate limit
(chalicelib/api/limits.py), reads the path parameters (chalicelib/api/parameters.py), holds the principal to
the route's rule (chalicelib/api/access.py), parses the body and query into the shapes the view's annotations
name, and hands the view only what it asks for by name: `request`, `principal`, `uow`, `body`, `query` and its
path parameters. A cached route's answer is served from the cache while its family is unchanged. Every failure
is rendered by the surface's error renderer. The OpenAPI document is generated from the same declarations, so
the two cannot drift apart."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from chalice.app import Blueprint, Chalice, CORSConfig, Request, Response

from chalicelib.api import access as access_module
from chalicelib.api import limits, parameters
from chalicelib.api.requests import json_body, query_parameters
from chalicelib.api.responses import JSON_TYPE, classify, json_response, page_response
from chalicelib.config import get_settings
from chalicelib.domain.errors import Error

if TYPE_CHECKING:
    from pydantic import BaseModel

    from chalicelib.adapters.rate_limit import Budget

View = Callable[..., Any]
RenderError = Callable[[Error, dict[str, Any] | None], Response]

# What a browser on another origin may do. Deliberate: the API uses no cookies or browser credentials, so
# credentials are never allowed; the origin is a deploy-time setting (CORS_ALLOW_ORIGIN, "" turns CORS off).
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
CORS_EXPOSE_HEADERS = ["Link", "X-Next-Cursor", "Idempotent-Replayed", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                       "X-RateLimit-Reset", "Retry-After", "WWW-Authenticate"]
# What every route that needs a key may also answer: no valid key, not this key's, too many requests.
KEYED_ERRORS = (401, 403, 429)
# What a view may ask for by name, besides its path parameters.
INJECTED = frozenset({"request", "principal", "uow", "body", "query"})


# NamedTuples rather than dataclasses: this module is loaded by every cold start, and they are built faster.
class Surface(NamedTuple):
    """One API: its name (in cache keys), its document's title and description, the modules holding its request
    shapes and its answers."""

    name: str
    title: str
    description: str
    shapes: str
    answers: str

    def shape(self, name: str) -> type[BaseModel]:
        """The request shape `name`."""
        import importlib

        return cast("type[BaseModel]", getattr(importlib.import_module(self.shapes), name))

    def answer(self, name: str) -> Any:
        """The answer `name` ("X", or "list[X]" for X's list)."""
        import importlib

        return getattr(importlib.import_module(self.answers), name.removeprefix("list[").removesuffix("]"))


class Cached(NamedTuple):
    """A read answered from the cache while its `family` (named from the view's path parameters) is unchanged,
    for the TTL the setting `ttl` holds. `first_page_only`: anyone may ask with any query, so only the answer to
    no query at all is kept (one entry, whatever anonymous callers send)."""

    family: Callable[[dict[str, Any]], str]
    ttl: str
    first_page_only: bool = False


class RouteSpec(NamedTuple):
    """What a route takes and answers, read from its declaration and its view's annotations. Shapes and answers
    are named as in their surface's modules and loaded only by whoever needs them (the OpenAPI builder)."""

    path: str
    method: str
    name: str
    summary: str
    access: str  # chalicelib.api.access.RULES
    body: str | None
    query: str | None
    response: str | None  # "X", or "list[X]" for a paged list of X
    status: int
    errors: tuple[int, ...]
    paged: bool
    headers: tuple[str, ...] = ()  # request headers the route reads, documented by name
    content_type: str = JSON_TYPE
    other_responses: tuple[tuple[int, str], ...] = ()  # (status, answer) answered in a shape other than an error
    cached: Cached | None = None


def _returns(view: View) -> tuple[str | None, bool]:
    """The answer a view's return annotation names, and whether it is a page of them."""
    annotation = str(view.__annotations__.get("return", ""))
    for wrapper in ("Replayable[", "Page["):
        if annotation.startswith(wrapper):
            inner = annotation.removeprefix(wrapper).removesuffix("]")
            return (f"list[{inner}]", True) if wrapper == "Page[" else (inner, False)
    return (None if annotation in ("Response", "") else annotation), False


class Router:
    """Declares a surface's routes; `register` puts them on the app with the authorizer and CORS it is given."""

    def __init__(self, surface: Surface, render_error: RenderError) -> None:
        self.surface = surface
        self.specs: list[RouteSpec] = []
        self._render_error = render_error
        self._blueprint = Blueprint(surface.name)
        self._declared: list[tuple[str, list[str], bool, Callable[..., Response]]] = []
        self._cached: dict[str, tuple[View, Cached]] = {}

    def route(self, path: str, methods: tuple[str, ...] = ("GET",), *, access: str, summary: str,
              status: int = 200, errors: tuple[int, ...] = (), headers: tuple[str, ...] = (),
              content_type: str = JSON_TYPE, other_responses: tuple[tuple[int, str], ...] = (),
              sign_up: bool = False, cached: Cached | None = None,
              response: str | None = None) -> Callable[[View], View]:
        """`access` is required: no route exists without a rule. A public route's requests count against their
        source address: SIGNUP_LIMIT_PER_WINDOW for the `sign_up` route, PUBLIC_LIMIT_PER_WINDOW for the others.
        `response` names the answer of a view that returns a Response of its own making."""
        if access not in access_module.RULES:
            raise ValueError(f"{path}: access must be one of {access_module.RULES}, not {access!r}")
        keyed = access != access_module.PUBLIC

        def register(view: View) -> View:
            code = view.__code__
            wants = frozenset(code.co_varnames[:code.co_argcount])
            unknown = wants - INJECTED - {part.strip("{}") for part in path.split("/") if part.startswith("{")}
            if unknown:
                raise ValueError(f"{view.__name__} asks for {sorted(unknown)}: neither a path parameter nor one of "
                                 f"{sorted(INJECTED)}")
            body, query = (cast("str | None", view.__annotations__.get(name)) if name in wants else None
                           for name in ("body", "query"))
            answered, paged = _returns(view)
            answered = answered or response
            declared = errors
            if "{" in path or query is not None:  # path and query parameters are checked before the view runs
                declared = tuple(dict.fromkeys((400, *declared)))
            # Every request counts against a limit: its principal's, or its source's.
            declared = tuple(dict.fromkeys((*KEYED_ERRORS, *declared) if keyed else (429, *declared)))
            for method in methods:
                self.specs.append(RouteSpec(path, method, view.__name__, summary, access, body, query, answered,
                                            status, declared, paged, headers, content_type, other_responses,
                                            cached))

            def arguments(request: Request, raw: dict[str, str],
                          principal: access_module.Principal | None) -> dict[str, Any]:
                """The view's arguments; the principal is held to the route's rule on the way, before the body is
                read wherever the path or the rule alone decides."""
                found = parameters.decoded(raw)
                by_body = principal is not None and access_module.needs_body(access, found)
                if principal is not None and not by_body:
                    access_module.check(access, principal, request.method, found, None)
                given: dict[str, Any] = parameters.parsed(found)
                if body is not None:
                    given["body"] = _request_shape(self.surface, body).parse(json_body(request))
                if query is not None:
                    given["query"] = _request_shape(self.surface, query).parse(query_parameters(request))
                if principal is not None and by_body:
                    access_module.check(access, principal, request.method, found, given.get("body"))
                if "uow" in wants:
                    from chalicelib.services.unit_of_work import UnitOfWork

                    given["uow"] = UnitOfWork()
                given.update(request=request, principal=principal)
                return {name: value for name, value in given.items() if name in wants}

            def cache_entry(request: Request, given: dict[str, Any]) -> tuple[str, str] | None:
                """The family and key of this request's cached answer; None when it is not to be cached."""
                if cached is None or (cached.first_page_only and request.query_params):
                    return None
                return cached.family(given), self.answer_key(view.__name__, **given)

            def answer(request: Request, given: dict[str, Any], entry: tuple[str, str] | None,
                       found: list[bytes | None] | None) -> Response:
                if entry is None or cached is None:
                    return _rendered(request, view(**given), status)
                from chalicelib.adapters.cache import get_cache

                kept = get_cache().read_through(*entry, getattr(get_settings(), cached.ttl),
                                                lambda: _kept(view(**given)), found)
                return _rendered(request, _unkept(kept), status)

            def admit(request: Request, principal: access_module.Principal | None,
                      read: tuple[str, ...] = ()) -> limits.Read:
                if principal is not None:
                    return limits.admit_principal(principal, read)
                settings = get_settings()
                return limits.admit_source(request, "signup" if sign_up else "public",
                                           settings.signup_limit_per_window if sign_up
                                           else settings.public_limit_per_window, read)

            @functools.wraps(view)
            def handle(**raw: str) -> Response:
                budget: Budget | None = None
                try:
                    request = self._blueprint.current_request
                    principal = access_module.Principal.from_request(request) if keyed else None
                    if cached is None:
                        budget, _ = admit(request, principal)
                        response = answer(request, arguments(request, raw, principal), None, None)
                    else:
                        # A cached route reads its answer in the round trip that counts the request, so its
                        # parameters are read first: pure work, and a request refused there is counted too.
                        try:
                            given = arguments(request, raw, principal)
                        except Error:
                            budget, _ = admit(request, principal)
                            raise
                        entry = cache_entry(request, given)
                        if entry is None:
                            budget, found = admit(request, principal)
                        else:
                            from chalicelib.adapters.cache import get_cache

                            budget, found = admit(request, principal, get_cache().read_keys(*entry))
                        response = answer(request, given, entry, found)
                except limits.TooManyRequests as refused:
                    response = self._render_error(refused, refused.headers())
                except Error as error:
                    response = self._render_error(error, None)
                except Exception as exc:  # noqa: BLE001 - every failure must still answer in the error shape
                    response = self._render_error(classify(exc), None)
                if budget is not None:
                    response.headers.update(budget.headers())
                return response

            self._declared.append((path, list(methods), keyed, handle))
            if cached is not None:
                self._cached[view.__name__] = (view, cached)
            return view

        return register

    def answer_key(self, route: str, **given: Any) -> str:
        """The cache key of the answer `route` gives for these parameters (as its view receives them)."""
        from chalicelib.adapters.cache import get_cache

        return get_cache().keys.answer(self.surface.name, route, _digest(given))

    def fill(self, route: str, **given: Any) -> None:
        """Put the answer of the cached `route` to these parameters in the cache, as its first request would (a
        benchmark starts warm)."""
        from chalicelib.adapters.cache import get_cache
        from chalicelib.services.unit_of_work import UnitOfWork

        view, cached = self._cached[route]
        key = self.answer_key(route, **given)
        get_cache().read_through(cached.family(given), key, getattr(get_settings(), cached.ttl),
                                 lambda: _kept(view(**given, uow=UnitOfWork())))

    def register(self, app: Chalice, authorizer: Any, cors_origin: str = "") -> None:
        cors = CORSConfig(allow_origin=cors_origin, allow_headers=CORS_ALLOW_HEADERS,
                          expose_headers=CORS_EXPOSE_HEADERS, max_age=600,
                          allow_credentials=False) if cors_origin else None
        for path, methods, keyed, handle in self._declared:
            # Content types are checked by json_body, so a wrong one gets the API's error shape.
            self._blueprint.route(path, methods=methods, content_types=["*/*"], cors=cors,
                                  authorizer=authorizer if keyed else None)(handle)
        app.register_blueprint(self._blueprint)


class _Parses(Protocol):
    def parse(self, raw: Any) -> Any: ...


def _request_shape(surface: Surface, name: str) -> _Parses:
    """A request shape: its `parse` validates what the request carries, or raises ValidationFailed."""
    return cast("_Parses", surface.shape(name))


def _rendered(request: Request, result: Any, status: int) -> Response:
    """A view's result as an answer: a Response as it is, a page (chalicelib.domain.paging.Page) as a JSON array
    with its paging headers, an idempotent write's answer (chalicelib.domain.records.Replayable) with
    `Idempotent-Replayed` when it replays, anything else as JSON. Told apart by what they hold, so a cached
    answer loads neither module."""
    if isinstance(result, Response):
        return result
    if hasattr(result, "next_cursor"):
        return page_response(request, result.items, result.next_cursor)
    if hasattr(result, "replayed"):
        return json_response(result.value, status, {"Idempotent-Replayed": "true"} if result.replayed else None)
    return json_response(result, status)


class _KeptPage:
    __slots__ = ("items", "next_cursor")

    def __init__(self, items: list[Any], next_cursor: str | None) -> None:
        self.items, self.next_cursor = items, next_cursor


def _kept(result: Any) -> Any:
    """What the cache keeps of a view's result (JSON)."""
    if hasattr(result, "next_cursor"):
        return {"items": result.items, "next": result.next_cursor}
    return {"body": result}


def _unkept(kept: Any) -> Any:
    return kept["body"] if "body" in kept else _KeptPage(kept["items"], kept["next"])


def _digest(given: dict[str, Any]) -> str:
    """One request's parameters, canonical (path values as parsed, the query as validated), as a short digest:
    a key of bounded length that two different requests never share."""
    import hashlib
    import json

    canonical = {name: value.model_dump(mode="json") if name == "query" else value for name, value in given.items()
                 if name not in ("request", "principal", "uow", "body")}
    if given.get("principal") is not None:  # a view that acts for the key's own account answers for that account
        canonical["account"] = given["principal"].id
    text = json.dumps(canonical, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
