"""The authorizer reads a REQUEST authorizer's event as API Gateway sends it (every header, the caller's address)
and the event Chalice's local gateway builds, which carries the same."""
from __future__ import annotations

from chalicelib.api.request_authorizer import GatewayRequest, RequestAuthorizer

# The shape of API Gateway's REQUEST authorizer event for a REST API (headers as sent, no authorizationToken).
REQUEST_EVENT = {
    "type": "REQUEST",
    "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/api/GET/users/alice",
    "resource": "/users/{username}", "path": "/users/alice", "httpMethod": "GET",
    "headers": {"Authorization": "Bearer tapi.0123456789abcdef.x", "APCA-API-KEY-ID": "0123456789abcdef",
                "X-Forwarded-For": "203.0.113.9"},
    "queryStringParameters": {}, "pathParameters": {"username": "alice"},
    "requestContext": {"identity": {"sourceIp": "198.51.100.7"}, "stage": "api"},
}


def test_a_request_event_gives_every_header_and_the_peer_address_never_a_forwarded_one() -> None:
    request = GatewayRequest(REQUEST_EVENT)
    assert request.token == "Bearer tapi.0123456789abcdef.x"
    assert request.headers["apca-api-key-id"] == "0123456789abcdef"
    assert request.source_ip == "198.51.100.7"
    assert request.method_arn == REQUEST_EVENT["methodArn"]


def test_a_request_without_credentials_reads_as_no_token() -> None:
    request = GatewayRequest({**REQUEST_EVENT, "headers": {}})
    assert request.token == "" and request.headers == {}


def test_the_registered_authorizer_reads_request_events_and_keeps_chalices_configuration() -> None:
    from app import api_key_authorizer, app

    assert isinstance(api_key_authorizer, RequestAuthorizer)
    assert api_key_authorizer.config in app.builtin_auth_handlers
    assert api_key_authorizer.config.ttl_seconds == 0
    assert isinstance(api_key_authorizer._transform_event(REQUEST_EVENT), GatewayRequest)
