"""Credentials from AWS Secrets Manager: on AWS stages the database's user and password and Redis's AUTH token
are secrets, never configuration. `DATABASE_URL` and `REDIS_URL` then say only where to connect (the RDS Proxy's
endpoint, the ElastiCache endpoint); the secret named by `DATABASE_SECRET_ARN` (the JSON RDS writes: username,
password, ...) and `REDIS_SECRET_ARN` (a JSON object with `auth_token`, or the token itself) supply the rest.
Without those variables the URLs are used as they are (local stages).

A secret is fetched at most once per `SECRET_TTL_S` (300 s) per container (powertools' parameters cache), so a
rotated database password is picked up within that time, and at once when the server refuses the one held (see
`database_credentials`)."""
from __future__ import annotations

import functools
import json
import os
from typing import Any

from chalicelib.adapters.aws_clients import aws_client
from chalicelib.config import get_settings
from chalicelib.lazy import lazy


def database_credentials(*, refresh: bool = False) -> dict[str, str]:
    """The user and password to connect with (pg8000's keyword arguments), from the secret if one is named;
    `refresh` fetches the secret again (the server refused what was held: it was rotated)."""
    settings = get_settings()
    if not settings.database_secret_arn:
        return {}
    secret = _secret_object(settings.database_secret_arn, refresh=refresh)
    return {"user": str(secret["username"]), "password": str(secret["password"])}


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


def cache_signing_key() -> bytes:
    """The key that signs cached key records: CACHE_SIGNING_KEY, else the secret CACHE_SIGNING_SECRET_ARN names,
    else one made up for this process alone (then records it wrote are believed by it alone, and every other
    process reads keys from the database: safe, slower, and warned about once)."""
    settings = get_settings()
    if settings.cache_signing_key:
        return settings.cache_signing_key.encode()
    if settings.cache_signing_secret_arn:
        return _secret_string(settings.cache_signing_secret_arn).encode()
    return _process_signing_key()


@functools.cache
def _process_signing_key() -> bytes:
    from chalicelib.adapters.logs import get_logger

    get_logger().warning("CACHE_SIGNING_KEY is not set: cached key records are signed for this process only",
                         extra={"event": "cache_signing_key_missing"})
    return os.urandom(32)


def _secret_object(arn: str, *, refresh: bool = False) -> dict[str, Any]:
    value = json.loads(_secret_string(arn, refresh=refresh))
    if not isinstance(value, dict):
        raise ValueError(f"secret {arn} is not a JSON object")
    return value


@lazy
def _provider() -> Any:
    """Powertools' Secrets Manager provider on this process's client (LocalStack's on local stages); it keeps what
    it fetched for the `max_age` each read asks."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=aws_client("secretsmanager"))


def _secret_string(arn: str, *, refresh: bool = False) -> str:
    """Every connection a warm function opens reuses what was fetched, until it is SECRET_TTL_S old."""
    return str(_provider().get(arn, max_age=get_settings().secret_ttl_s, force_fetch=refresh))


def forget() -> None:
    """Drop every secret held (tests point the process at other secrets)."""
    _provider.cache_clear()
