"""Credentials from AWS Secrets Manager, read once per container (a cold start) and kept: on AWS stages the
database's user and password and Redis's AUTH token are secrets, never configuration. `DATABASE_URL` and
`REDIS_URL` then say only where to connect (the RDS Proxy's endpoint, the ElastiCache endpoint); the secret
named by `DATABASE_SECRET_ARN` (the JSON RDS writes: username, password, ...) and `REDIS_SECRET_ARN` (a JSON
object with `auth_token`, or the token itself) supply the rest. Without those variables the URLs are used as they
are (local stages)."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.aws_clients import aws_client
from chalicelib.config import get_settings
from chalicelib.lazy import lazy


def database_url() -> str:
    """DATABASE_URL with the secret's username and password in it, if a secret is named."""
    from sqlalchemy.engine import make_url

    settings = get_settings()
    if not settings.database_secret_arn:
        return settings.database_url
    secret = _secret_object(settings.database_secret_arn)
    url = make_url(settings.database_url).set(username=secret["username"], password=secret["password"])
    return url.render_as_string(hide_password=False)


def redis_url() -> str:
    """REDIS_URL with the secret's AUTH token as its password, if a secret is named."""
    from urllib.parse import quote, urlsplit, urlunsplit

    settings = get_settings()
    if not settings.redis_secret_arn:
        return settings.redis_url
    raw = _secret_string(settings.redis_secret_arn)
    try:
        token = json.loads(raw)["auth_token"]
    except (ValueError, TypeError, KeyError):
        token = raw
    parts = urlsplit(settings.redis_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f":{quote(token, safe='')}@{host}"))


def _secret_object(arn: str) -> dict[str, Any]:
    value = json.loads(_secret_string(arn))
    if not isinstance(value, dict):
        raise ValueError(f"secret {arn} is not a JSON object")
    return value


@lazy
def _secret_string(arn: str) -> str:
    """Fetched once per container and secret: every connection a warm function opens reuses it."""
    answer = aws_client("secretsmanager").get_secret_value(SecretId=arn)
    return str(answer["SecretString"])
