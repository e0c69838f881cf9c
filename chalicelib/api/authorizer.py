"""The Lambda authorizer API Gateway runs before any route that needs a key, on every request (its answer is never
cached, so a revoke holds at once): `Authorization: Bearer <api key>` (or Alpaca's two headers, `APCA-API-KEY-ID`
and `APCA-API-SECRET-KEY`, the key's id and the secret after it) in, the principal out, in the request
context. A missing, malformed, unknown or revoked key is a 401 that says nothing about whether any user exists. A
key the cache does not hold costs a database read, so each source may have only so many of those a window; past
that its unknown keys are refused without one. It never logs, keeps or answers with the key."""
from __future__ import annotations

import json

from chalice.app import AuthResponse

from chalicelib import services
from chalicelib.adapters.key_records import get_key_records
from chalicelib.adapters.logs import get_logger
from chalicelib.api.access import Principal
from chalicelib.api.gateway import GATEWAY_HEADERS, GATEWAY_RESPONSES, gateway_error_body
from chalicelib.api.limits import may_look_up_key
from chalicelib.api.request_authorizer import GatewayRequest
from chalicelib.domain import api_keys
from chalicelib.services.unit_of_work import UnitOfWork


def authorize(request: GatewayRequest) -> AuthResponse:
    token = api_keys.bearer_token(request.token or "")
    if token is None and "apca-api-key-id" in request.headers:  # Alpaca's clients send the key in two halves
        token = api_keys.from_key_pair(request.headers["apca-api-key-id"],
                                       request.headers.get("apca-api-secret-key", ""))
    try:
        record = services.keys.verify(token, UnitOfWork(), get_key_records(),
                                      lambda: may_look_up_key(request.source_ip)) if token else None
    except Exception as exc:  # noqa: BLE001 - any failure to look the key up is the dependency's, not the key's
        get_logger().warning("authorizer could not look up a key", extra={
            "event": "authorizer_failed", "error": f"{type(exc).__name__}: {exc}"})
        raise unavailable() from None
    if record is None:
        raise unauthorized()
    principal = Principal(record.key_id, record.scope, record.user_id, record.username)
    # Every route: the route's own rule (chalicelib/api/access.py) decides what the principal may do there.
    return AuthResponse(routes=["*"], principal_id=principal.id, context=principal.to_context())


def unauthorized() -> Exception:
    """API Gateway answers 401 (its UNAUTHORIZED gateway response) when an authorizer fails with exactly
    "Unauthorized"; Chalice's local gateway (make run, chalice.test) answers 401 for its own NotAuthorizedError."""
    return _gateway_error("UNAUTHORIZED", "Unauthorized")


def unavailable() -> Exception:
    """API Gateway answers an authorizer that fails any other way with its AUTHORIZER_FAILURE gateway response
    (503 here); locally the same answer is raised for Chalice's local gateway to give."""
    return _gateway_error("AUTHORIZER_FAILURE", "the authorizer could not check the key")


def _gateway_error(response_type: str, message: str) -> Exception:
    try:
        from chalice.local import LocalGatewayException
    except ImportError:  # on Lambda, where only chalice.app is deployed: API Gateway reads the message
        return Exception(message)

    class GatewayAnswer(LocalGatewayException):
        CODE = GATEWAY_RESPONSES[response_type][0] or 500

    body = json.dumps(gateway_error_body(response_type), separators=(",", ":")).encode()
    return GatewayAnswer({"Content-Type": "application/json", **GATEWAY_HEADERS.get(response_type, {})}, body)
