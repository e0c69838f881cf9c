"""One database transaction with the repositories on it: rolled back unless the service commits. What the
service records as having happened is handed, after the commit and only then, to the handlers
(chalicelib/services/handlers.py).

SQLAlchemy, the tables and the repositories are loaded here, when the first transaction starts, and nowhere
else: a request the cache answers never loads them, which is most of a cold start. Likewise what follows a commit
(the cache, the queue) loads with the first commit that reports an event."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from chalicelib.domain.errors import Error

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from chalicelib.adapters.repositories import (
        Activities,
        ApiKeys,
        CashMovements,
        Equity,
        Holdings,
        Outbox,
        PriceBars,
        PriceBuckets,
        Stocks,
        StreamConnections,
        Trades,
        Users,
    )
    from chalicelib.domain.events import Event

Publish = Callable[[Iterable["Event"]], None]


class UnitOfWork:
    session: Session
    users: Users
    stocks: Stocks
    bars: PriceBars
    buckets: PriceBuckets
    holdings: Holdings
    trades: Trades
    outbox: Outbox
    keys: ApiKeys
    cash: CashMovements
    activities: Activities
    equity: Equity
    connections: StreamConnections

    def __init__(self, session_factory: sessionmaker[Session] | None = None,
                 publish: Publish | None = None) -> None:
        """`publish` hands committed events to what follows them: by default, every handler registered for
        them."""
        self._session_factory = session_factory
        self._publish = publish
        self._events: list[Event] = []

    def __enter__(self) -> UnitOfWork:
        from chalicelib.adapters import repositories
        from chalicelib.adapters.database import get_database

        self.session = (self._session_factory or get_database().sessions)()
        self.users = repositories.Users(self.session)
        self.stocks = repositories.Stocks(self.session)
        self.bars = repositories.PriceBars(self.session)
        self.buckets = repositories.PriceBuckets(self.session)
        self.holdings = repositories.Holdings(self.session)
        self.trades = repositories.Trades(self.session)
        self.outbox = repositories.Outbox(self.session)
        self.keys = repositories.ApiKeys(self.session)
        self.cash = repositories.CashMovements(self.session)
        self.activities = repositories.Activities(self.session)
        self.equity = repositories.Equity(self.session)
        self.connections = repositories.StreamConnections(self.session)
        self._events = []
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # close() rolls back whatever was not committed and detaches objects with their loaded values intact
        # (rollback() would expire them). After a failure that may have left the connection out of step with the
        # server (anything but a refusal of ours or an error the server reported), the connection is discarded
        # instead, so the next request gets a clean one.
        if exc is not None and not isinstance(exc, Error):
            from chalicelib.adapters.database import connection_in_step, raise_as_domain_error

            if connection_in_step(exc):
                self.session.close()
            else:
                self.session.invalidate()
            raise_as_domain_error(exc)
            return
        self.session.close()

    def record(self, event: Event) -> None:
        """`event` happens if this transaction commits; dropped on rollback."""
        self._events.append(event)

    def commit(self) -> None:
        self.session.commit()
        events, self._events = self._events, []
        if events:
            self.committed(*events)

    def committed(self, *events: Event) -> None:
        """Hand events that committed (here, or by a statement that commits by itself) to what follows them."""
        if self._publish is None:
            from chalicelib.services import handlers

            deps = handlers.default_dependencies()
            self._publish = lambda committed: handlers.handle(committed, deps)
        self._publish(events)
