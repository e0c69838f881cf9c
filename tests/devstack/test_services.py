"""The service finder: environment first, then the standard local ports, then embedded servers from wheels.
The embedded path is exercised here on every machine, even where local servers run."""
from __future__ import annotations

from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from devstack import services
from devstack.database import create_database, drop_database, migrate


def test_environment_urls_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://u@db.example:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/0")
    assert services.postgres(tmp_path).origin == "environment"
    assert services.redis(tmp_path).origin == "environment"


def test_embedded_postgres_and_redis_start_migrate_serve_and_stop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("TRADEAPI_EMBEDDED", "1")
    postgres = services.postgres(tmp_path / "postgres")
    cache = services.redis(tmp_path / "redis")
    try:
        assert (postgres.origin, cache.origin) == ("embedded", "embedded")
        url = create_database(postgres.url, "tradeapi_embedded")
        migrate(url)
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, username, balance, starting_balance) "
                              "VALUES (gen_random_uuid(), 'e', 1, 1)"))
            assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 1
        engine.dispose()
        drop_database(postgres.url, "tradeapi_embedded")

        client = redis_lib.Redis.from_url(cache.url)
        assert client.set("k", "v") and client.get("k") == b"v"
        client.close()
        # Reaching the port is not enough: the embedded Redis asks for its password.
        port = make_url(cache.url).port
        stranger = redis_lib.Redis(host="127.0.0.1", port=port)
        with pytest.raises(redis_lib.exceptions.AuthenticationError):
            stranger.set("k", "forged")
        stranger.close()
        assert ((tmp_path / "redis" / "password").stat().st_mode & 0o777) == 0o600
    finally:
        postgres.stop()
        cache.stop()

    port = make_url(cache.url).port
    assert port is not None and not services.port_open("127.0.0.1", port)
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()
