"""Placing a trade: replay an idempotent retry, pre-check buying power, set aside cash or shares, and record the
trade as pending with its outbox message in one transaction; the message goes to SQS after commit."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.adapters.logs import get_logger
from chalicelib.domain import rules, views
from chalicelib.domain.errors import Conflict, NotFound, TradeRefused
from chalicelib.domain.events import TradePlaced
from chalicelib.domain.messages import settlement_message
from chalicelib.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.domain.models import Holding, Stock, Trade, User


class NewTrade(Protocol):
    """What placement reads (validated at the edge)."""

    @property
    def user_ref(self) -> str: ...

    @property
    def ticker(self) -> str: ...

    @property
    def transaction_type(self) -> str: ...

    @property
    def transaction_volume(self) -> int: ...

    @property
    def client_order_id(self) -> str | None: ...


@dataclass(frozen=True)
class Placed:
    body: dict[str, Any]
    replayed: bool


def place(new: NewTrade, idempotency_key: str | None, uow: UnitOfWork) -> Placed:
    """`idempotency_key` is the header's; `client_order_id` in the body serves as the key without one."""
    keyed = _stored_key(idempotency_key, new.client_order_id)
    key = keyed[0] if keyed else None
    with uow:
        # The user row lock serialises a user's placements: reservations and idempotency keys stay exact.
        user = uow.users.get(new.user_ref, for_update=True)
        fingerprint = _fingerprint(user.id, new)
        if keyed is not None:
            earlier = _earlier_with_key(uow, user, *keyed, fingerprint)
            if earlier is not None:
                return Placed(views.trade_accepted(earlier, user.username), replayed=True)
        stock = uow.stocks.get(new.ticker)
        if stock is None:
            raise NotFound(f"stock {new.ticker!r} not found", [{"field": "ticker"}])
        holding = uow.holdings.get_for_update(user.id, stock.ticker) if new.transaction_type == rules.SELL else None
        order = rules.Order(new.transaction_type, new.transaction_volume, stock.close_price)
        _pre_check(order, user, stock, holding)
        cash, shares = _reserve(order, user, holding)
        trade = uow.trades.add(id=uuid.uuid4(), user_id=user.id, ticker=stock.ticker, side=order.side,
                               volume=order.volume, reserved_cash=cash, reserved_quantity=shares,
                               status=rules.PENDING, client_order_id=new.client_order_id, idempotency_key=key,
                               request_fingerprint=fingerprint)
        uow.outbox.add(trade.id, settlement_message(trade.id))
        uow.record(TradePlaced(trade.id, user.id, user.username, {
            "ticker": trade.ticker, "side": trade.side, "volume": trade.volume,
            "reserved_cash": str(trade.reserved_cash), "idempotency_key": key}))
        uow.commit()
    return Placed(views.trade_accepted(trade, user.username), replayed=False)


def _stored_key(header: str | None, client_order_id: str | None) -> tuple[str, str] | None:
    """The key a request is remembered by, and the field that gave it. The header and `client_order_id` are
    separate key spaces: a header equal to an earlier order's `client_order_id` is a request of its own."""
    if header is not None:
        return f"header:{header}", "Idempotency-Key"
    if client_order_id is not None:
        return f"order:{client_order_id}", "client_order_id"
    return None


def _earlier_with_key(uow: UnitOfWork, user: User, key: str, field: str, fingerprint: str) -> Trade | None:
    """The trade an earlier request with this key placed; the same key with another request is a conflict."""
    earlier = uow.trades.by_idempotency_key(user.id, key)
    if earlier is None:
        return None
    if earlier.request_fingerprint != fingerprint:
        raise Conflict("this idempotency key was already used with a different request", [{"field": field}])
    get_logger().info("idempotent replay", extra={"event": "trade_replayed", "transaction_id": str(earlier.id)})
    return earlier


def _pre_check(order: rules.Order, user: User, stock: Stock, holding: Holding | None) -> None:
    """The broker's buying-power check; a refusal is a 400 that creates nothing."""
    account = rules.Account(
        balance=user.balance,
        reserved_cash=user.reserved_cash,
        quantity=holding.quantity if holding else 0,
        reserved_quantity=holding.reserved_quantity if holding else 0,
        stock_volume=stock.volume,
    )
    reason = rules.pre_check(order, account)
    if reason is None:
        return
    get_logger().info("transaction refused at placement", extra={
        "event": "trade_refused", "outcome": reason, "user_id": str(user.id), "ticker": stock.ticker,
        "side": order.side, "volume": order.volume})
    raise TradeRefused(reason, _refusal_message(reason, order, account))


def _reserve(order: rules.Order, user: User, holding: Holding | None) -> tuple[Decimal, int]:
    """Set aside the order's cash (a buy) or shares (a sell) on the locked rows; returns what was set aside."""
    cash, shares = rules.reservation(order)
    user.reserved_cash += cash
    if holding is not None:
        holding.reserved_quantity += shares
    return cash, shares


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
