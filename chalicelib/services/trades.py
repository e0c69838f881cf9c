"""Placing a trade: validate, pre-check buying power, set aside cash or shares, record the trade as pending with
its outbox message in one transaction; the message goes to SQS after commit."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from chalicelib import settlement_rules as rules
from chalicelib.cache import Cache
from chalicelib.errors import ApiError, Conflict, NotFound
from chalicelib.logs import get_logger
from chalicelib.models import Holding, Stock, Trade, User
from chalicelib.outbox import Outbox
from chalicelib.schemas import NewTrade, TradeAccepted, TradeOut
from chalicelib.services import users
from chalicelib.unit_of_work import UnitOfWork


class TradeRefused(ApiError):
    """The pre-check failed: nothing was created. The code is the reason (insufficient_funds, ...)."""

    status = 400

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, [{"field": "transaction_volume", "reason": reason}])
        self.code = reason


@dataclass(frozen=True)
class Placed:
    body: dict[str, Any]
    replayed: bool


def place(new: NewTrade, idempotency_key: str | None, uow: UnitOfWork, cache: Cache, outbox: Outbox) -> Placed:
    key = idempotency_key or new.client_order_id
    with uow:
        # The user row lock serialises a user's placements: reservations and idempotency keys stay exact.
        user = users.find_by_ref(uow, new.user_ref, for_update=True)
        fingerprint = _fingerprint(user.id, new)
        if key is not None:
            earlier = uow.session.scalar(select(Trade).where(Trade.user_id == user.id, Trade.idempotency_key == key))
            if earlier is not None:
                if earlier.request_fingerprint != fingerprint:
                    raise Conflict(
                        "this idempotency key was already used with a different request",
                        [{"field": "Idempotency-Key" if idempotency_key else "client_order_id"}],
                    )
                get_logger().info("idempotent replay", extra={"event": "trade_replayed",
                                                              "transaction_id": str(earlier.id)})
                return Placed(accepted_view(earlier, user.username), replayed=True)

        stock = uow.session.get(Stock, new.ticker)
        if stock is None:
            raise NotFound(f"stock {new.ticker!r} not found", [{"field": "ticker"}])
        holding = None
        if new.transaction_type == rules.SELL:
            holding = uow.session.scalar(
                select(Holding).where(Holding.user_id == user.id, Holding.ticker == stock.ticker).with_for_update()
            )
        order = rules.Order(new.transaction_type, new.transaction_volume, stock.close_price)
        account = rules.Account(
            balance=user.balance,
            reserved_cash=user.reserved_cash,
            quantity=holding.quantity if holding else 0,
            reserved_quantity=holding.reserved_quantity if holding else 0,
            stock_volume=stock.volume,
        )
        reason = rules.pre_check(order, account)
        if reason is not None:
            get_logger().info("transaction refused at placement", extra={
                "event": "trade_refused", "outcome": reason, "user_id": str(user.id), "ticker": stock.ticker,
                "side": order.side, "volume": order.volume})
            raise TradeRefused(reason, _refusal_message(reason, order, account))

        cash, shares = rules.reservation(order)
        user.reserved_cash += cash
        if holding is not None:
            holding.reserved_quantity += shares
        trade = Trade(
            id=uuid.uuid4(),
            user_id=user.id,
            ticker=stock.ticker,
            side=order.side,
            volume=order.volume,
            reserved_cash=cash,
            reserved_quantity=shares,
            status="pending",
            client_order_id=new.client_order_id,
            idempotency_key=key,
            request_fingerprint=fingerprint,
        )
        uow.session.add(trade)
        uow.session.flush()
        # After-commit actions run in order: the trade is logged as placed before its message is sent.
        uow.after_commit(lambda: get_logger().info("transaction placed", extra={
            "event": "trade_placed", "outcome": "pending", "transaction_id": str(trade.id),
            "user_id": str(user.id), "ticker": trade.ticker, "side": trade.side, "volume": trade.volume,
            "reserved_cash": str(cash), "idempotency_key": key}))
        outbox.add(uow, trade.id)
        uow.after_commit(lambda: cache.delete(cache.keys.user(user.username)))
        uow.after_commit(lambda: cache.drop_listed(cache.keys.transaction_keys(str(user.id))))
        uow.commit()
    return Placed(accepted_view(trade, user.username), replayed=False)


def trade_view(trade: Trade, username: str) -> dict[str, Any]:
    return _view(TradeOut, trade, username)


def accepted_view(trade: Trade, username: str) -> dict[str, Any]:
    return _view(TradeAccepted, trade, username)


def _view(shape: type[TradeOut], trade: Trade, username: str) -> dict[str, Any]:
    return shape(
        transaction_id=trade.id,
        user=username,
        user_id=trade.user_id,
        ticker=trade.ticker,
        transaction_type=trade.side,
        transaction_volume=trade.volume,
        transaction_price=trade.price,
        total=trade.total,
        status=trade.status,  # type: ignore[arg-type]
        reason=trade.reason,
        timestamp=trade.created_at,
        settled_at=trade.settled_at,
        client_order_id=trade.client_order_id,
    ).model_dump(mode="json")


def _fingerprint(user_id: uuid.UUID, new: NewTrade) -> str:
    canonical = {
        "user_id": str(user_id),
        "ticker": new.ticker,
        "side": new.transaction_type,
        "volume": new.transaction_volume,
        "client_order_id": new.client_order_id,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _refusal_message(reason: str, order: rules.Order, account: rules.Account) -> str:
    if reason == rules.INSUFFICIENT_FUNDS:
        available = account.balance - account.reserved_cash
        return f"buying {order.volume} costs {order.cost:.2f} but only {available:.2f} is available"
    if reason == rules.INSUFFICIENT_VOLUME:
        return f"buying {order.volume} shares but only {account.stock_volume} are on offer"
    available_shares = account.quantity - account.reserved_quantity
    return f"selling {order.volume} shares but only {available_shares} are held and not already being sold"


def find_for_user(uow: UnitOfWork, user: User, trade_id: uuid.UUID) -> Trade:
    trade = uow.session.scalar(select(Trade).where(Trade.id == trade_id, Trade.user_id == user.id))
    if trade is None:
        raise NotFound(f"transaction {str(trade_id)!r} not found")
    return trade
