"""One database transaction with the repositories on it: rolled back unless the service commits. What the
service records as having happened is handed, after the commit and only then, to `after_commit`.

SQLAlchemy, the models and the repositories are loaded here, when the first transaction starts, and nowhere
else: a request the cache answers never loads them, which is most of a cold start. Likewise what follows a commit
(the cache, the queue) loads with the first commit that reports an event."""
from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import ApiError

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.orm import Session, sessionmaker

    from chalicelib.adapters.repositories import ApiKeys, Holdings, Outbox, Stocks, Trades, Users
    from chalicelib.domain.events import Event
    from chalicelib.domain.messages import SendMessages

AfterCommit = Callable[[list["Event"], "SendMessages"], None]


class UnitOfWork:
    session: Session
    users: Users
    stocks: Stocks
    holdings: Holdings
    trades: Trades
    outbox: Outbox
    keys: ApiKeys

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
        self.holdings = repositories.Holdings(self.session)
        self.trades = repositories.Trades(self.session)
        self.outbox = repositories.Outbox(self.session)
        self.keys = repositories.ApiKeys(self.session)
        self._events = []
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # close() rolls back whatever was not committed and detaches objects with their loaded values intact
        # (rollback() would expire them), so views can still be built from them after the block. After a failure
        # that may have left the connection out of step with the server (anything but a refusal of ours or an
        # error the server reported), the connection is discarded instead, so the next request gets a clean one.
        if exc is not None and not isinstance(exc, ApiError):
            from chalicelib.adapters.database import connection_in_step

            if not connection_in_step(exc):
                self.session.invalidate()
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

    def ping(self) -> None:
        """One round trip to the database; raises when it cannot serve."""
        with self:
            self.session.connection().exec_driver_sql("SELECT 1")

    def send_settlement_messages(self, messages: dict[uuid.UUID, dict[str, Any]]) -> int:
        """Send outbox messages and record which went out, in a transaction of its own (this one has committed)."""
        from chalicelib.adapters.trade_queue import get_trade_queue

        with UnitOfWork(self._session_factory, self._after_commit) as sending:
            sent = get_trade_queue().deliver(sending.outbox, messages)
            sending.commit()
        return sent

    def _handle(self, events: list[Event]) -> None:
        if self._after_commit is None:
            from chalicelib.services.after_commit import handle

            self._after_commit = handle
        self._after_commit(events, self.send_settlement_messages)
