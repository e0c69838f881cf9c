"""The OpenAPI 3.1 document of a surface, generated from its routes' declarations, the pydantic shapes they validate
with and the TypedDicts they answer with (never written by hand). Imported only by the documentation route."""
from __future__ import annotations

import functools
import json
import re
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from chalicelib.api.access import PUBLIC
from chalicelib.api.parameters import PATH_PARAMETERS
from chalicelib.api.requests import IDEMPOTENCY_KEY
from chalicelib.api.responses import JSON_TYPE
from chalicelib.api.router import RouteSpec, Surface

VERSION = "1.0.0"
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
_BEARER = "bearerAuth"
_RESPONSE_HEADERS = {
    "Idempotency-Key": {"Idempotent-Replayed": {"description": "`true` when this answer replays an earlier one",
                                                "schema": {"type": "string", "enum": ["true"]}}},
}


def document(surface: Surface, specs: list[RouteSpec]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(_document_json(surface, tuple(specs)))
    return parsed


@functools.lru_cache(maxsize=4)
def _document_json(surface: Surface, specs: tuple[RouteSpec, ...]) -> str:
    # Built once per warm process: the routes cannot change while it lives.
    return json.dumps(build(surface, list(specs)))


def build(surface: Surface, specs: list[RouteSpec]) -> dict[str, Any]:
    schemas = _Schemas(surface, specs)
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": surface.title, "version": VERSION, "description": surface.description},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {_BEARER: {
                "type": "http", "scheme": "bearer",
                "description": "An API key: `POST /users` answers with the user's first; "
                               "`POST /users/{username}/keys` makes more; admin keys come from `make admin-key`."}},
        },
    }


class _Schemas:
    """The JSON Schema of every shape (as validated) and answer (as answered) the routes name, and the components
    they share."""

    def __init__(self, surface: Surface, specs: list[RouteSpec]) -> None:
        self.surface = surface
        wanted: dict[tuple[str, JsonSchemaMode], Any] = {("ErrorOut", "serialization"): surface.answer("ErrorOut")}
        for spec in specs:
            for name in (spec.body, spec.query):
                if name is not None:
                    wanted[(name, "validation")] = surface.shape(name)
            for name in (spec.response, *(answer for _, answer in spec.other_responses)):
                if name is not None:
                    wanted[(name.removeprefix("list[").removesuffix("]"), "serialization")] = surface.answer(name)
        refs, defs = TypeAdapter.json_schemas(
            [(key, mode, TypeAdapter(kind)) for (key, mode), kind in wanted.items()], ref_template=_REF)
        self._refs = {key: schema for (key, _mode), schema in refs.items()}
        self.components = defs.get("$defs", {})

    def of(self, name: str) -> dict[str, Any]:
        return self._refs[name.removeprefix("list[").removesuffix("]")]


def _operation(spec: RouteSpec, schemas: _Schemas) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": spec.name, "summary": spec.summary,
                                 "security": [] if spec.access == PUBLIC else [{_BEARER: []}]}
    parameters = [_path_parameter(name) for name in re.findall(r"{(\w+)}", spec.path)]
    if spec.query is not None:
        parameters += _query_parameters(schemas.surface.shape(spec.query))
    parameters += [_REQUEST_HEADERS[name] for name in spec.headers]
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON_TYPE: {"schema": schemas.of(spec.body)}},
        }
    operation["responses"] = {str(spec.status): _success(spec, schemas)}
    for status, name in spec.other_responses:
        operation["responses"][str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {JSON_TYPE: {"schema": schemas.of(name)}},
        }
    error_schema = schemas.of("ErrorOut")
    for status in spec.errors:
        operation["responses"][str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {JSON_TYPE: {"schema": error_schema}},
        }
    return operation


def _success(spec: RouteSpec, schemas: _Schemas) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": HTTPStatus(spec.status).phrase}
    if spec.response is not None:
        schema = schemas.of(spec.response)
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
    declared = PATH_PARAMETERS[name]
    parameter = {"name": name, "in": "path", "required": True, "schema": dict(declared.schema)}
    if declared.description:
        parameter["description"] = declared.description
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
