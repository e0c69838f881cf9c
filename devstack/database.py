"""Create, migrate and drop databases on a PostgreSQL server (tests and the local stack)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from devstack.paths import ROOT


def _admin_engine(server_url: str) -> Engine:
    url = make_url(server_url).set(database="postgres")
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def create_database(server_url: str, name: str, *, exist_ok: bool = False) -> str:
    """Create database `name` on the server of `server_url`; return its URL."""
    engine = _admin_engine(server_url)
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if exists and not exist_ok:
            raise RuntimeError(f"database {name} already exists")
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    engine = _admin_engine(server_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def migrate(database_url: str, revision: str = "head") -> None:
    """Bring the database up to `revision` with the project's Alembic migrations."""
    from alembic import command

    command.upgrade(_alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the database back down to `revision`."""
    from alembic import command

    command.downgrade(_alembic_config(database_url), revision)


def _alembic_config(database_url: str) -> Any:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config
