"""One database transaction: rolled back unless the service commits; after-commit work runs only on commit."""
from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    session: Session

    def __init__(self, session_factory: sessionmaker[Session] | None = None) -> None:
        self._session_factory = session_factory
        self._after_commit: list[Callable[[], None]] = []

    def __enter__(self) -> UnitOfWork:
        # SQLAlchemy is loaded when the first transaction starts, not when the app is imported.
        from chalicelib.db import get_session_factory

        factory = self._session_factory or get_session_factory()
        self.session = factory()
        self._after_commit = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and detaches objects with their loaded values intact
        # (rollback() would expire them), so views can still be built from them after the block.
        self.session.close()

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the transaction is durable (cache refresh, queue send); dropped on rollback."""
        self._after_commit.append(action)

    def commit(self) -> None:
        self.session.commit()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            try:
                action()
            except Exception:  # noqa: BLE001 - the commit is durable; a failed follow-up is logged, not raised
                from chalicelib.logs import get_logger

                get_logger().exception("after-commit action failed", extra={"event": "after_commit_failed"})
