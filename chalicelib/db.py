"""The SQLAlchemy engine: created on first use, kept for the life of the process (a warm Lambda)."""
from __future__ import annotations

import threading

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from chalicelib.config import get_settings

_lock = threading.Lock()
_engine: Engine | None = None
_sessions: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _build_engine()
    return _engine


def get_session_factory() -> sessionmaker[Session]:
    global _sessions
    if _sessions is None:
        _sessions = sessionmaker(bind=get_engine(), expire_on_commit=False)
    return _sessions


def ping() -> None:
    """One round trip to the database; raises when it cannot serve."""
    with get_engine().connect() as conn:
        conn.execute(select(1))


def dispose_engine() -> None:
    """Forget the engine (tests point the process at another database; forks must not share sockets)."""
    global _engine, _sessions
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine, _sessions = None, None


def _build_engine() -> Engine:
    settings = get_settings()
    connect_args = {
        # Socket timeout: a dead or stalled server fails the request instead of hanging the Lambda.
        "timeout": settings.db_connect_timeout_s + settings.db_statement_timeout_ms / 1000,
        "application_name": f"tradeapi-{settings.stage}",
        # Sent in the startup packet, so they cost no extra round trip per connection.
        "startup_params": {
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "lock_timeout": str(settings.db_statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(settings.db_statement_timeout_ms * 6),
        },
    }
    if settings.db_pool == "null":
        return create_engine(settings.database_url, poolclass=NullPool, connect_args=connect_args)
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        pool_recycle=300,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args=connect_args,
    )
