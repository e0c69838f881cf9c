"""A user's positions: shares held and how many are not already promised to pending sells."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from chalicelib.models import Holding
from chalicelib.schemas import HoldingOut
from chalicelib.services import users
from chalicelib.unit_of_work import UnitOfWork


def holdings(username: str, uow: UnitOfWork) -> list[dict[str, Any]]:
    with uow:
        user = users.find_by_ref(uow, username)
        rows = uow.session.scalars(
            select(Holding).where(Holding.user_id == user.id, Holding.quantity > 0).order_by(Holding.ticker)
        )
        return [
            HoldingOut(ticker=h.ticker, quantity=h.quantity, available=h.quantity - h.reserved_quantity).model_dump()
            for h in rows
        ]
