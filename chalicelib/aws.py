"""boto3 clients, created on first use and reused by the warm Lambda. Local stages talk to the AWS emulator
(LocalStack or moto server) through localstack-client; AWS stages use the function's role."""
from __future__ import annotations

import threading
from typing import Any

from chalicelib.config import get_settings

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    if service not in _clients:
        with _lock:
            if service not in _clients:
                _clients[service] = _build(service)
    return _clients[service]


def reset_clients() -> None:
    with _lock:
        _clients.clear()


def _build(service: str) -> Any:
    from botocore.config import Config

    settings = get_settings()
    # Short timeouts and few retries: a slow or absent queue must not hold an API answer (the outbox covers it).
    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
    if settings.is_local:
        from localstack_client.session import Session

        return Session(region_name=settings.aws_region).client(service, config=config)
    import boto3

    return boto3.session.Session().client(service, region_name=settings.aws_region, config=config)
