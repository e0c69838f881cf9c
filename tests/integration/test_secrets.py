"""Credentials as secrets, against the emulator's Secrets Manager and the real PostgreSQL: the database user comes
from the secret DATABASE_SECRET_ARN names (DATABASE_URL says only where to connect), read once per process; and
DB_SSL=verify demands TLS with the certificate checked, never falling back to plain text."""
from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.pool import NullPool

from chalicelib.adapters import secrets
from chalicelib.adapters.aws_clients import aws_client
from chalicelib.adapters.database import get_database, get_engine
from chalicelib.config import get_settings


@pytest.fixture
def secretsmanager(aws_endpoint: str) -> Any:
    return aws_client("secretsmanager")


@pytest.fixture
def reset() -> Iterator[None]:
    yield
    for cached in (get_settings, get_database):
        cached.cache_clear()
    secrets.forget()


def secret(client: Any, value: object) -> str:
    created = client.create_secret(Name=f"tradeapi-test-{uuid.uuid4().hex[:8]}",
                                   SecretString=value if isinstance(value, str) else json.dumps(value))
    return str(created["ARN"])


def point_at(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for cached in (get_settings, get_database):
        cached.cache_clear()


def test_the_database_user_comes_from_the_secret(secretsmanager, monkeypatch, reset, api) -> None:
    url = make_url(get_settings().database_url)
    user = url.username or "postgres"
    without_credentials = url.set(username=None, password=None).render_as_string(hide_password=False)
    arn = secret(secretsmanager, {"username": user, "password": "from-the-secret", "engine": "postgres"})
    point_at(monkeypatch, DATABASE_URL=without_credentials, DATABASE_SECRET_ARN=arn)
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == user
    assert secrets.database_credentials() == {"user": user, "password": "from-the-secret"}
    assert api.post("/users", {"username": "from_secret", "balance": "1"}).status_code == 201

    # Held for SECRET_TTL_S: a later change to the secret is not fetched again for every connection.
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "nobody_here",
                                                                          "password": "x"}))
    get_database.cache_clear()
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_a_user_the_secret_names_is_the_one_that_connects(secretsmanager, monkeypatch, reset) -> None:
    url = make_url(get_settings().database_url).set(username=None, password=None)
    arn = secret(secretsmanager, {"username": f"nobody_{uuid.uuid4().hex[:6]}", "password": "x"})
    point_at(monkeypatch, DATABASE_URL=url.render_as_string(hide_password=False), DATABASE_SECRET_ARN=arn)
    with pytest.raises(DBAPIError) as refused, get_engine().connect():
        pass
    assert "nobody_" in str(refused.value)  # the server was asked for the secret's user, and has none


@pytest.fixture
def role() -> Iterator[str]:
    """A second login role, made and dropped by the test's own (superuser) connection."""
    name = f"rotated_{uuid.uuid4().hex[:6]}"
    owner = create_engine(get_settings().database_url, poolclass=NullPool)
    with owner.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{name}" LOGIN'))
    yield name
    get_database.cache_clear()
    with owner.begin() as conn:
        conn.execute(text(f'DROP ROLE "{name}"'))
    owner.dispose()


def test_a_rotated_secret_reaches_new_connections_after_its_ttl(secretsmanager, monkeypatch, reset, role) -> None:
    url = make_url(get_settings().database_url)
    arn = secret(secretsmanager, {"username": url.username or "postgres", "password": "before"})
    point_at(monkeypatch, DATABASE_URL=url.set(username=None, password=None).render_as_string(hide_password=False),
             DATABASE_SECRET_ARN=arn, DB_POOL="null", SECRET_TTL_S="0")
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == (url.username or "postgres")
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": role, "password": "after"}))
    with get_engine().connect() as conn:  # the same engine: the next connection takes the rotated user
        assert conn.execute(text("SELECT current_user")).scalar() == role


def test_credentials_the_server_refuses_are_fetched_again_at_once(secretsmanager, monkeypatch, reset, role) -> None:
    url = make_url(get_settings().database_url)
    arn = secret(secretsmanager, {"username": f"gone_{uuid.uuid4().hex[:6]}", "password": "x"})
    point_at(monkeypatch, DATABASE_URL=url.set(username=None, password=None).render_as_string(hide_password=False),
             DATABASE_SECRET_ARN=arn, DB_POOL="null")
    with pytest.raises(DBAPIError), get_engine().connect():
        pass  # refused, fetched again, still refused: the error stands
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": role, "password": "y"}))
    # Within the TTL the held (refused) user is tried first; its refusal fetches the rotated one.
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == role


@pytest.mark.parametrize("stored", [{"auth_token": "t0k/en+="}, "t0k/en+="])
def test_the_redis_token_comes_from_the_secret(secretsmanager, monkeypatch, reset, stored: object) -> None:
    arn = secret(secretsmanager, stored)
    point_at(monkeypatch, REDIS_URL="rediss://cache.example.internal:6379/0", REDIS_SECRET_ARN=arn)
    assert secrets.redis_url() == "rediss://:t0k%2Fen%2B%3D@cache.example.internal:6379/0"


def test_db_ssl_verify_checks_the_certificate_and_never_falls_back(monkeypatch, reset) -> None:
    point_at(monkeypatch, DB_SSL="verify")
    engine = get_engine()
    asked: list[dict[str, Any]] = []
    event.listen(engine, "do_connect", lambda dialect, conn_rec, cargs, cparams: asked.append(cparams))
    # This PostgreSQL speaks no TLS: the connection is refused, not made in plain text.
    with pytest.raises((InterfaceError, DBAPIError)) as refused, engine.connect():
        pass
    context = asked[0]["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True
    assert "SSL" in str(refused.value)
