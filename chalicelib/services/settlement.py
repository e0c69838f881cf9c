"""Settling one trade exactly once: lock it, skip it unless still pending, lock user, holding and stock in that
fixed order, re-check with current values, apply the outcome, and refresh the cache after commit."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from chalicelib import settlement_rules as rules
from chalicelib.cache import Cache
from chalicelib.models import Holding, Stock, Trade, User
from chalicelib.outbox import Outbox
from chalicelib.unit_of_work import UnitOfWork


class UnknownTrade(Exception):
    """The message names a trade that does not exist: a poison message, bound for the dead-letter queue."""


@dataclass(frozen=True)
class Settled:
    trade_id: uuid.UUID
    status: str
    reason: str | None
    # False when an earlier delivery already finalised the trade and this one changed nothing.
    changed: bool
    placed_at: datetime | None = None


def settle(trade_id: uuid.UUID, uow: UnitOfWork, cache: Cache, outbox: Outbox) -> Settled:
    with uow:
        session = uow.session
        trade = session.scalar(select(Trade).where(Trade.id == trade_id).with_for_update())
        if trade is None:
            raise UnknownTrade(f"no transaction {trade_id}")
        if trade.status != "pending":
            return Settled(trade.id, trade.status, trade.reason, changed=False)

        # Lock order everywhere: user, then holding, then stock (placement takes user, then holding).
        user = session.scalar(select(User).where(User.id == trade.user_id).with_for_update())
        assert user is not None  # foreign key
        holding = session.scalar(
            insert(Holding)
            .values(user_id=trade.user_id, ticker=trade.ticker)
            # A no-op update locks the existing row and returns it, all in one round trip.
            .on_conflict_do_update(index_elements=[Holding.user_id, Holding.ticker], set_={"quantity": Holding.quantity})
            .returning(Holding),
            execution_options={"populate_existing": True},
        )
        assert holding is not None
        stock = session.scalar(select(Stock).where(Stock.ticker == trade.ticker).with_for_update())
        assert stock is not None  # foreign key

        order = rules.Order(trade.side, trade.volume, stock.close_price, trade.reserved_cash,
                            trade.reserved_quantity)
        account = rules.Account(user.balance, user.reserved_cash, holding.quantity, holding.reserved_quantity,
                                stock.volume)
        outcome = rules.settle(order, account)
        user.balance += outcome.balance
        user.reserved_cash += outcome.reserved_cash
        holding.quantity += outcome.quantity
        holding.reserved_quantity += outcome.reserved_quantity
        stock.volume += outcome.stock_volume
        trade.status = outcome.status
        trade.reason = outcome.reason
        trade.total = outcome.total
        if outcome.status == "settled":
            trade.price = stock.close_price
            trade.settled_at = datetime.now(UTC)

        outbox.settled(uow, trade.id)
        username, ticker, owner = user.username, stock.ticker, str(user.id)

        def refresh_cache() -> None:
            cache.delete(cache.keys.user(username), cache.keys.stock(ticker))
            cache.drop_listed(cache.keys.stock_lists(), cache.keys.transaction_keys(owner))

        uow.after_commit(refresh_cache)
        uow.commit()
    return Settled(trade_id, outcome.status, outcome.reason, changed=True, placed_at=trade.created_at)
