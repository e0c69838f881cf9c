"""The edges where events arrive: HTTP (the router, request parsing, responses, middleware, request and response
shapes, the OpenAPI document and Swagger UI, API Gateway's own answers) and SQS (the settlement consumer).

The authorizer, the health report, the OpenAPI generator, Swagger UI and the SQS consumer are imported when
first used: each is another function's, or a rare route's.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import submodules_on_first_use

if TYPE_CHECKING:
    from chalicelib.api import authorizer, consumer, health, market, openapi, swagger

__all__ = ["authorizer", "consumer", "health", "market", "openapi", "swagger"]
__getattr__ = submodules_on_first_use(__name__, frozenset(__all__))
