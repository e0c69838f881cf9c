"""The trade update stream's registry, as its protocol moves a connection along: registered on connect, given its
account once its key checks, listening once it asks for `trade_updates`, forgotten on disconnect, when found gone,
or when it never authenticated in time. Who is told what is the notifier's (chalicelib/api/alpaca/notifier.py)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from chalicelib.services.unit_of_work import UnitOfWork


def connect(connection_id: str, endpoint: str, uow: UnitOfWork) -> None:
    with uow:
        uow.connections.add(connection_id, endpoint)
        uow.commit()


def authenticate(connection_id: str, user_id: uuid.UUID, uow: UnitOfWork) -> bool:
    """The connection acts for this account from now on; False if it is gone."""
    with uow:
        done = uow.connections.authenticate(connection_id, user_id)
        uow.commit()
    return done


def is_authenticated(connection_id: str, uow: UnitOfWork) -> bool:
    with uow:
        return uow.connections.is_authenticated(connection_id)


def listen(connection_id: str, listening: bool, uow: UnitOfWork) -> bool:
    """Send it the account's updates from now on (or stop); False unless it authenticated."""
    with uow:
        done = uow.connections.listen(connection_id, listening)
        uow.commit()
    return done


def listeners(user_ids: set[uuid.UUID], uow: UnitOfWork) -> list[Any]:
    """(id, endpoint, user_id) of the listening connections of these accounts."""
    if not user_ids:
        return []
    with uow:
        return uow.connections.listening(user_ids)


def forget(connection_ids: list[str], uow: UnitOfWork) -> None:
    """Disconnected, or found gone when posted to."""
    if not connection_ids:
        return
    with uow:
        uow.connections.remove(connection_ids)
        uow.commit()


def overdue(now: datetime, auth_timeout_s: float, uow: UnitOfWork, limit: int = 1000) -> list[Any]:
    """(id, endpoint) of connections that have not authenticated within `auth_timeout_s` of connecting."""
    with uow:
        return uow.connections.unauthenticated_since(now - timedelta(seconds=auth_timeout_s), limit)
