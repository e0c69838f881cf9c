"""boto3 clients, built on first use and reused by the warm Lambda. Local stages talk to the AWS emulator
(LocalStack or moto server) through localstack-client; AWS stages use the function's role."""
from __future__ import annotations

from typing import Any

from chalicelib.config import get_settings
from chalicelib.lazy import lazy


@lazy
def aws_client(service: str) -> Any:
    from botocore.config import Config

    settings = get_settings()
    # Short timeouts and few retries: a slow or absent queue must not hold an API answer (the outbox covers it).
    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
    if settings.is_local:
        from localstack_client.session import Session

        return Session(region_name=settings.aws_region).client(service, config=config)
    import boto3

    return boto3.session.Session().client(service, region_name=settings.aws_region, config=config)
