"""The authorizer as API Gateway runs it here: a REQUEST authorizer, handed the whole request (every header and the
caller's address), not a TOKEN authorizer handed one header. It needs the address to limit key lookups per source,
and more than one header for the credentials Alpaca's clients send.

Chalice's built-in authorizers are TOKEN ones. This keeps everything Chalice does for one (the function, its
permission, each route's security) and changes only how the event is read; `.chalice/merge-template.json` makes
API Gateway call it as a REQUEST authorizer. Chalice's local gateway builds its authorizer event from the whole
request too, so the same code reads both."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import AuthRequest, AuthResponse, Chalice, ChaliceAuthorizer


class GatewayRequest(AuthRequest):
    """What the authorizer is given: the credential headers (lower-case names) and the caller's address."""

    def __init__(self, event: dict[str, Any]) -> None:
        headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        super().__init__(event.get("type", "REQUEST"), event.get("authorizationToken") or
                         headers.get("authorization", ""), event["methodArn"])
        self.headers = headers
        self.source_ip = str(((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp") or "")


class RequestAuthorizer(ChaliceAuthorizer):
    def _transform_event(self, event: dict[str, Any]) -> AuthRequest:
        return GatewayRequest(event)


def request_authorizer(app: Chalice) -> Callable[[Callable[[GatewayRequest], AuthResponse]], ChaliceAuthorizer]:
    """`@request_authorizer(app)` where `@app.authorizer()` would go. Its answer is never cached by API Gateway
    (a TTL of 0): a revoke that answered holds from the next request on."""

    def register(handler: Callable[[GatewayRequest], AuthResponse]) -> ChaliceAuthorizer:
        registered: ChaliceAuthorizer = app.authorizer(ttl_seconds=0)(handler)
        # The instance Chalice registered keeps its configuration; only how it reads its event changes.
        registered.__class__ = RequestAuthorizer
        return registered

    return register
