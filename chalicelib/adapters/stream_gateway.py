"""Posting to the stream's WebSocket connections through the API Gateway Management API (`POST @connections/{id}`,
`DELETE` to close), one boto3 client per endpoint, built on first use and kept. Locally the endpoint is the
local WebSocket gateway's (devstack/stream_gateway.py), which serves the same API."""
from __future__ import annotations

import contextlib
from typing import Any

from chalicelib.config import get_settings
from chalicelib.lazy import lazy


class ConnectionsApi:
    def __init__(self, client: Any) -> None:
        self._client = client

    def post(self, connection_id: str, data: bytes) -> bool:
        """Send one message; False if the connection is gone (it must be forgotten). Other failures raise."""
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self._client.exceptions.GoneException:
            return False
        return True

    def close(self, connection_id: str) -> None:
        """Close it from the server's side; one already gone is closed."""
        with contextlib.suppress(self._client.exceptions.GoneException):
            self._client.delete_connection(ConnectionId=connection_id)


def management_endpoint(api_id: str, stage: str) -> str:
    """Where a connection of WebSocket API `api_id` (stage `stage`) is posted to."""
    settings = get_settings()
    if settings.stream_management_url:
        return settings.stream_management_url
    return f"https://{api_id}.execute-api.{settings.aws_region}.amazonaws.com/{stage}"


@lazy
def connections_api(endpoint: str) -> ConnectionsApi:
    import boto3
    from botocore.config import Config

    settings = get_settings()
    # A slow connection must not hold the others' updates long: the notifier gives up on it and logs.
    config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"},
                    max_pool_connections=32)
    local = {"aws_access_key_id": "test", "aws_secret_access_key": "test"} if settings.is_local else {}
    return ConnectionsApi(boto3.session.Session().client("apigatewaymanagementapi", endpoint_url=endpoint,
                                                         region_name=settings.aws_region, config=config, **local))
