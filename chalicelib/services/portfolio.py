"""A user's positions: shares held and how many are not already promised to pending sells, by ticker, paged."""
from __future__ import annotations

from sqlalchemy import select

from chalicelib.models import Holding
from chalicelib.pagination import Page, decode_cursor, encode_cursor, split
from chalicelib.schemas import HoldingOut, PageQuery
from chalicelib.services import users
from chalicelib.unit_of_work import UnitOfWork


def holdings(username: str, page: PageQuery, uow: UnitOfWork) -> Page:
    query = select(Holding).where(Holding.quantity > 0).order_by(Holding.ticker).limit(page.limit + 1)
    if page.cursor is not None:
        (after,) = decode_cursor(page.cursor, 1)
        query = query.where(Holding.ticker > after)
    with uow:
        user = users.find_by_ref(uow, username)
        rows, last = split(list(uow.session.scalars(query.where(Holding.user_id == user.id))), page)
        items = [
            HoldingOut(ticker=h.ticker, quantity=h.quantity, available=h.quantity - h.reserved_quantity).model_dump()
            for h in rows
        ]
    return Page(items, encode_cursor(last.ticker) if last is not None else None)
