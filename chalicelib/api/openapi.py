"""The OpenAPI 3.1 document, generated from the routes' declarations and the pydantic models they validate and
answer with (never written by hand). Imported only by the documentation route."""
from __future__ import annotations

import functools
import json
import re
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.access import PUBLIC
from chalicelib.api.requests import BOUND_PATTERNS, IDEMPOTENCY_KEY, PATH_PATTERNS
from chalicelib.api.responses import JSON_TYPE
from chalicelib.api.router import RouteSpec, shape
from chalicelib.api.shapes import ErrorOut
from chalicelib.api.swagger import TITLE

VERSION = "1.0.0"
# JSON Schema of each (model, mode) the document uses, as pydantic returns them.
Refs = dict[tuple[Any, Any], dict[str, Any]]
_REF = "#/components/schemas/{model}"

_PAGE_HEADERS = {
    "Link": {"description": 'The next page: `<url>; rel="next"`; absent on the last page',
             "schema": {"type": "string"}},
    "X-Next-Cursor": {"description": "Pass as `?cursor=` to get the next page; absent on the last page",
                      "schema": {"type": "string"}},
}
# Request headers a route may declare that it reads, and the response headers that go with them.
_REQUEST_HEADERS = {
    "Idempotency-Key": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "The same key with the same body returns the first answer and creates nothing; with a "
                       "different body it is a 409. `client_order_id` in the body works the same way.",
        "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY.pattern}$"},
    },
}
_BOUND = {"anyOf": [{"type": "string", "pattern": f"^{pattern.pattern}$"} for pattern in BOUND_PATTERNS],
          "description": "ISO 8601 date (the whole day counts), ISO 8601 date-time (naive means UTC), or Unix "
                         "seconds; start <= timestamp <= end"}
# Path parameters as the routes accept them; the rules are the ones the validators enforce.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "username": {"type": "string", "pattern": PATH_PATTERNS["username"]},
    "ticker": {"type": "string", "pattern": PATH_PATTERNS["ticker"], "description": "matched in any case"},
    "user_id": {"type": "string", "pattern": PATH_PATTERNS["user_id"], "description": "a user id (UUID) or username"},
    "transaction_id": {"type": "string", "format": "uuid"},
    "start": {**_BOUND, "examples": ["2026-01-01"]},
    "end": {**_BOUND, "examples": ["2026-12-31"]},
    "asset": {"type": "string", "pattern": PATH_PATTERNS["asset"]},
    "key_id": {"type": "string", "pattern": PATH_PATTERNS["key_id"]},
}
_BEARER = "bearerAuth"
_RESPONSE_HEADERS = {
    "Idempotency-Key": {"Idempotent-Replayed": {"description": "`true` when this answer replays an earlier one",
                                                "schema": {"type": "string", "enum": ["true"]}}},
}


def document(specs: list[RouteSpec]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(_document_json(tuple(specs)))
    return parsed


@functools.lru_cache(maxsize=1)
def _document_json(specs: tuple[RouteSpec, ...]) -> str:
    # Built once per warm process: the routes cannot change while it lives.
    return json.dumps(build(list(specs)))


def build(specs: list[RouteSpec]) -> dict[str, Any]:
    models = _models(specs)
    refs, components = models_json_schema(models, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "A stock-trading API: users with a cash balance, stock data, and buy/sell orders that "
                           "settle asynchronously. Money is a decimal string with two places; every failed answer "
                           "has the `ErrorOut` shape. Every route also answers with a trailing slash.",
        },
        "paths": paths,
        "components": {
            "schemas": components.get("$defs", {}),
            "securitySchemes": {_BEARER: {
                "type": "http", "scheme": "bearer",
                "description": "An API key: `POST /users` answers with the user's first; "
                               "`POST /users/{username}/keys` makes more; admin keys come from `make admin-key`."}},
        },
    }


def _models(specs: list[RouteSpec]) -> list[tuple[type[BaseModel], Any]]:
    wanted: dict[tuple[type[BaseModel], str], None] = {(ErrorOut, "serialization"): None}
    for spec in specs:
        if spec.body is not None:
            wanted[(shape(spec.body), "validation")] = None
        if spec.query is not None:
            wanted[(shape(spec.query), "validation")] = None
        for response in (spec.response, *(name for _, name in spec.other_responses)):
            if response is not None:
                wanted[(shape(response), "serialization")] = None
    return list(wanted)


def _operation(spec: RouteSpec, refs: Refs) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": spec.name, "summary": spec.summary,
                                 "security": [] if spec.access == PUBLIC else [{_BEARER: []}]}
    parameters = [_path_parameter(name) for name in re.findall(r"{(\w+)}", spec.path)]
    if spec.query is not None:
        parameters += _query_parameters(shape(spec.query))
    parameters += [_REQUEST_HEADERS[name] for name in spec.headers]
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON_TYPE: {"schema": refs[(shape(spec.body), "validation")]}},
        }
    operation["responses"] = {str(spec.status): _success(spec, refs)}
    for status, name in spec.other_responses:
        operation["responses"][str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {JSON_TYPE: {"schema": refs[(shape(name), "serialization")]}},
        }
    error_schema = refs[(ErrorOut, "serialization")]
    for status in spec.errors:
        operation["responses"][str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {JSON_TYPE: {"schema": error_schema}},
        }
    return operation


def _success(spec: RouteSpec, refs: Refs) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": HTTPStatus(spec.status).phrase}
    if spec.response is not None:
        schema = refs[(shape(spec.response), "serialization")]
        if spec.response.startswith("list["):
            schema = {"type": "array", "items": schema}
        answer["content"] = {spec.content_type: {"schema": schema}}
    else:
        answer["content"] = {spec.content_type: {"schema": {"type": "string"}}}
    headers = dict(_PAGE_HEADERS) if spec.paged else {}
    for name in spec.headers:
        headers.update(_RESPONSE_HEADERS.get(name, {}))
    if headers:
        answer["headers"] = headers
    return answer


def _path_parameter(name: str) -> dict[str, Any]:
    schema = dict(PATH_PARAMETERS[name])
    description = schema.pop("description", None)
    parameter = {"name": name, "in": "path", "required": True, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        # A query parameter is absent rather than null: keep the non-null branch of an Optional.
        branches = [branch for branch in prop.get("anyOf", [prop]) if branch.get("type") != "null"]
        param_schema = {k: v for k, v in {**prop, **branches[0]}.items() if k not in ("anyOf", "title")}
        parameters.append({"name": name, "in": "query", "required": name in required, "schema": param_schema})
    return parameters
