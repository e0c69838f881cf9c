"""The SQLAlchemy engines and the session factory: built on first use, kept for the life of the process. One
engine serves transactions (sessions); the other runs single statements that commit by themselves (placing an
order), so they cost no BEGIN and no COMMIT round trip."""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from chalicelib.adapters import secrets, tracing
from chalicelib.config import get_settings
from chalicelib.lazy import lazy


@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]
    autocommit: Engine


def _dispose(database: Database) -> None:
    database.engine.dispose()
    database.autocommit.dispose()


@lazy(close=_dispose)
def get_database() -> Database:
    """Forget it with `get_database.cache_clear()` (tests point the process at another database)."""
    engine = _build_engine()
    return Database(engine, sessionmaker(bind=engine, expire_on_commit=False),
                    _build_engine(isolation_level="AUTOCOMMIT"))


def get_engine() -> Engine:
    return get_database().engine


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE the server reported with `exc`, or None when the error did not come from the server."""
    args = getattr(getattr(exc, "orig", exc), "args", None)
    if args and isinstance(args[0], dict):
        state = args[0].get("C")
        return state if isinstance(state, str) else None
    return None


# SQLSTATEs that mean "the database cannot serve now", not "the request is wrong": a statement or lock timeout, an
# administrator's or a crash's shutdown, a server starting up, too many connections, a connection failure.
_UNAVAILABLE_SQLSTATES = {"57014", "55P03", "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006"}
# SQLSTATE class 22, data exception: the value, not the server, is at fault.
_DATA_EXCEPTION_CLASS = "22"


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not serve (down, restarting, unreachable, too slow), so that the same
    work may succeed once it is back."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, (sa_exc.InterfaceError, sa_exc.OperationalError, sa_exc.TimeoutError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and sqlstate(exc) in _UNAVAILABLE_SQLSTATES:
        return True
    # A socket error no driver wrapped (pg8000 during a pool ping, say).
    return isinstance(exc, (TimeoutError, ConnectionError))


def refused_value(exc: BaseException) -> bool:
    """Whether the server refused a value it cannot store or compare (a NUL byte, say): the request's fault."""
    state = sqlstate(exc)
    return state is not None and state.startswith(_DATA_EXCEPTION_CLASS)


def connection_in_step(exc: BaseException) -> bool:
    """Whether a connection that raised `exc` can serve the next request. Only an error the server reported
    leaves the protocol in step (the server answered, then waits for the next command); a driver or client-side
    failure may have sent half a message, so that connection must be thrown away, never pooled."""
    return sqlstate(exc) is not None and not getattr(exc, "connection_invalidated", False)


def _build_engine(**options: Any) -> Engine:
    _number_placeholders_once()
    tracing.trace_sql()
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
    if settings.db_ssl == "verify":
        connect_args["ssl_context"] = tls_context(settings.db_ssl_ca_file)
    if settings.db_pool == "null":
        engine = create_engine(settings.database_url, poolclass=NullPool, connect_args=connect_args, **options)
        _credentials_from_secret(engine)
        return engine
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_recycle=300,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args=connect_args,
        **options,
    )
    _credentials_from_secret(engine)
    _ping_when_idle(engine, settings.db_ping_after_idle_s)
    return engine


# The server refused the user or password: SQLSTATE class 28 (invalid authorization).
_REFUSED_CREDENTIALS = "28"


def _credentials_from_secret(engine: Engine) -> None:
    """Each new connection takes the user and password from the secret as held now, so a rotation reaches the
    next connection; if the server refuses them, the secret is fetched again and the connection tried once more."""
    if not get_settings().database_secret_arn:
        return

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        try:
            return dialect.connect(*cargs, **{**cparams, **secrets.database_credentials()})
        except dialect.loaded_dbapi.Error as refused:
            if not (sqlstate(refused) or "").startswith(_REFUSED_CREDENTIALS):
                raise
        return dialect.connect(*cargs, **{**cparams, **secrets.database_credentials(refresh=True)})


def tls_context(ca_file: str | None) -> Any:
    """TLS that checks the server's certificate chain and host name (pg8000 otherwise encrypts without checking
    whom it talks to)."""
    import ssl

    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _number_placeholders_once() -> None:
    """pg8000 rescans a statement's text character by character on every execution to number its placeholders
    (half a millisecond for the placement statement, more for settlement's). For the positional style SQLAlchemy
    sends, the result depends on the text alone, so it is worked out once per statement and process."""
    import pg8000.dbapi
    import pg8000.legacy

    scan = pg8000.dbapi.convert_paramstyle
    if getattr(scan, "numbers_once", False):
        return

    @functools.lru_cache(maxsize=512)
    def numbered(style: str, query: str) -> str:
        converted: str = scan(style, query, ())[0]
        return converted

    def convert_paramstyle(style: str, query: str, args: Any) -> tuple[str, Any]:
        if style in ("format", "numeric", "qmark"):  # the values pass through unchanged in these styles
            return numbered(style, query), args
        converted: tuple[str, Any] = scan(style, query, args)
        return converted

    convert_paramstyle.numbers_once = True  # type: ignore[attr-defined]
    convert_paramstyle.original = scan  # type: ignore[attr-defined]
    # The one place pg8000 looks the scanner up, for each of its cursor kinds; it offers no hook for this.
    pg8000.dbapi.convert_paramstyle = convert_paramstyle
    pg8000.legacy.convert_paramstyle = convert_paramstyle


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """A connection that sat idle longer than `idle_s` is pinged before use (it may have been cut while it waited:
    a database restart, a failover); a busy one is not, so a request under load pays no extra round trip. A
    connection that dies in use is discarded with every other one of its pool as soon as its error is seen."""

    @event.listens_for(engine, "checkin")
    def _remember(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"pinged after {idle_s} s idle: {exc}") from exc


def raise_as_domain_error(error: BaseException) -> None:
    """What the server's answer means in the domain's words, raised: a failure that means the database could not
    serve is DatabaseUnavailable (a 503 at the edge; settlement fails its batch at once rather than retrying each
    trade into the same outage); a value it cannot store or compare is BadValue (a 400). Anything else is left
    to the caller."""
    from chalicelib.adapters.logs import get_logger

    if unavailable(error):
        from chalicelib.domain.errors import DatabaseUnavailable

        get_logger().warning("database unavailable", extra={"event": "database_unavailable",
                                                            "error": f"{type(error).__name__}: {error}"})
        raise DatabaseUnavailable() from error
    if refused_value(error):
        from chalicelib.domain.errors import BadValue

        # The server's message may quote the value, so it is logged, not answered.
        get_logger().info("value refused by the database", extra={"event": "data_exception",
                                                                   "sqlstate": sqlstate(error)})
        raise BadValue("a value in the request cannot be stored or compared") from error


Result = TypeVar("Result")


def alone(work: Callable[[Connection], Result]) -> Result:
    """`work` on a connection whose statements commit by themselves. A connection found dead (cut while pooled:
    a restart, a failover) is discarded with its pool and `work` runs once more on a fresh one, so `work` must be
    safe to repeat; a client-side failure discards the connection."""
    from chalicelib.domain.errors import Error

    engine = get_database().autocommit
    for attempt in (1, 2):
        conn = engine.connect()
        try:
            return work(conn)
        except BaseException as error:
            if attempt == 1 and isinstance(error, DBAPIError) and error.connection_invalidated:
                continue
            if not isinstance(error, Error) and not connection_in_step(error):
                conn.invalidate()
            raise_as_domain_error(error)
            raise
        finally:
            conn.close()
    raise AssertionError("unreachable")


def ping() -> None:
    """One round trip to the database; raises when it cannot serve."""
    alone(lambda conn: conn.exec_driver_sql("SELECT 1"))
