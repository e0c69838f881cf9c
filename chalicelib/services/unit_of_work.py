"""One database transaction with the repositories on it: rolled back unless the service commits. What the
service records as having happened is handed, after the commit and only then, to `after_commit`.

SQLAlchemy, the models and the repositories are loaded here, when the first transaction starts, and nowhere
else: a request the cache answers never loads them, which is most of a cold start. Likewise what follows a commit
(the cache, the queue) loads with the first commit that reports an event."""
from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.domain.errors import DatabaseUnavailable, Error

if TYPE_CHECKING:
    import uuid

    from sqlalchemy import Connection
    from sqlalchemy.orm import Session, sessionmaker

    from chalicelib.adapters.placement import PlacedRow
    from chalicelib.adapters.repositories import (
        Activities,
        ApiKeys,
        CashMovements,
        Holdings,
        Outbox,
        PriceBars,
        Stocks,
        Trades,
        Users,
    )
    from chalicelib.domain.events import Event
    from chalicelib.domain.messages import SendMessages

AfterCommit = Callable[[list["Event"], "SendMessages"], None]
Result = TypeVar("Result")


class UnitOfWork:
    session: Session
    users: Users
    stocks: Stocks
    bars: PriceBars
    holdings: Holdings
    trades: Trades
    outbox: Outbox
    keys: ApiKeys
    cash: CashMovements
    activities: Activities

    def __init__(self, session_factory: sessionmaker[Session] | None = None,
                 after_commit: AfterCommit | None = None) -> None:
        self._session_factory = session_factory
        self._after_commit = after_commit
        self._events: list[Event] = []

    def __enter__(self) -> UnitOfWork:
        from chalicelib.adapters import repositories
        from chalicelib.adapters.database import get_database

        self.session = (self._session_factory or get_database().sessions)()
        self.users = repositories.Users(self.session)
        self.stocks = repositories.Stocks(self.session)
        self.bars = repositories.PriceBars(self.session)
        self.holdings = repositories.Holdings(self.session)
        self.trades = repositories.Trades(self.session)
        self.outbox = repositories.Outbox(self.session)
        self.keys = repositories.ApiKeys(self.session)
        self.cash = repositories.CashMovements(self.session)
        self.activities = repositories.Activities(self.session)
        self._events = []
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # close() rolls back whatever was not committed and detaches objects with their loaded values intact
        # (rollback() would expire them), so views can still be built from them after the block. After a failure
        # that may have left the connection out of step with the server (anything but a refusal of ours or an
        # error the server reported), the connection is discarded instead, so the next request gets a clean one.
        if exc is not None and not isinstance(exc, Error):
            from chalicelib.adapters.database import connection_in_step

            if connection_in_step(exc):
                self.session.close()
            else:
                self.session.invalidate()
            _raise_if_unavailable(exc)
            return
        self.session.close()

    def record(self, event: Event) -> None:
        """`event` happens if this transaction commits; dropped on rollback."""
        self._events.append(event)

    def commit(self) -> None:
        self.session.commit()
        events, self._events = self._events, []
        if events:
            self._handle(events)

    def place_order(self, **order: Any) -> PlacedRow | None:
        """Place an order in one statement that commits by itself (chalicelib/adapters/placement.py), then hand
        its event to what follows a commit. None when it could not be placed as asked: the caller finds out why
        in a transaction of its own."""
        from sqlalchemy.exc import IntegrityError

        from chalicelib.adapters import placement
        from chalicelib.domain.events import TradePlaced

        try:
            row = self._alone(lambda conn: placement.place(conn, **order))
        except IntegrityError:
            # A concurrent request with the same idempotency key was written first (the unique index refused this
            # one, and the statement wrote nothing): the caller's transaction finds it and replays its answer.
            return None
        if row is not None:
            self._handle([TradePlaced.of(row, row.username, order.get("idempotency_key"))])
        return row

    def _alone(self, work: Callable[[Connection], Result]) -> Result:
        """`work` on a connection whose statement commits by itself. A connection found dead (cut while pooled:
        a restart, a failover) is discarded with its pool and `work` runs once more on a fresh one, so `work` must
        be safe to repeat; a client-side failure discards the connection."""
        from sqlalchemy.exc import DBAPIError

        from chalicelib.adapters.database import connection_in_step, get_database

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
                _raise_if_unavailable(error)
                raise
            finally:
                conn.close()
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """One round trip to the database; raises when it cannot serve."""
        with self:
            self.session.connection().exec_driver_sql("SELECT 1")

    def send_settlement_messages(self, messages: dict[uuid.UUID, dict[str, Any]]) -> set[uuid.UUID]:
        """Send the messages of outbox rows this unit committed; returns those sent. Nothing is written back: the
        relay tells a lost send from a pending one by the row's age (settlement removes the row)."""
        from chalicelib.adapters.trade_queue import get_trade_queue

        return get_trade_queue().send_committed(messages)

    def _handle(self, events: list[Event]) -> None:
        if self._after_commit is None:
            from chalicelib.services.after_commit import handle

            self._after_commit = handle
        self._after_commit(events, self.send_settlement_messages)


def _raise_if_unavailable(error: BaseException) -> None:
    """A failure that means the database could not serve becomes the domain's DatabaseUnavailable (a 503 at the
    edge; settlement fails its batch at once rather than retrying each trade into the same outage)."""
    from chalicelib.adapters.database import unavailable

    if unavailable(error):
        from chalicelib.adapters.logs import get_logger

        get_logger().warning("database unavailable", extra={"event": "database_unavailable",
                                                            "error": f"{type(error).__name__}: {error}"})
        raise DatabaseUnavailable() from error
