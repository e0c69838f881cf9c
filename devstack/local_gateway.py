"""Chalice's local API Gateway emulation, made to call the authorizer as API Gateway calls a REQUEST authorizer
with no identity source (.chalice/merge-template.json): for every request, whatever credential headers it carries.
Chalice's own emulation runs TOKEN authorizers only, and answers 401 itself when there is no `Authorization`
header, so Alpaca's clients, which send `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY`, never reached the authorizer
under `make run` or `chalice.test`."""
from __future__ import annotations

from typing import Any


def calling_request_authorizers(gateway: Any) -> Any:
    """`gateway` (a chalice.local.LocalGateway), its authorizer handed every request."""
    from chalice.local import LocalGatewayAuthorizer

    class RequestAuthorizerEmulation(LocalGatewayAuthorizer):  # type: ignore[misc]
        def _prepare_authorizer_event(self, arn: str, lambda_event: Any, lambda_context: Any) -> Any:
            event = dict(lambda_event)
            event.update(type="REQUEST", methodArn=arn,
                         authorizationToken=(lambda_event.get("headers") or {}).get("authorization", ""))
            return event

    gateway._authorizer = RequestAuthorizerEmulation(gateway._app_object)
    return gateway
