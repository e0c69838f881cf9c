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
from chalicelib.domain.errors import Conflict, NotFound, Refused
from chalicelib.domain.events import TradePlaced
from chalicelib.domain.messages import settlement_message
from chalicelib.domain.vocabulary import Reason, Side, TimeInForce, TradeStatus
from chalicelib.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.adapters.tables import Holding, Stock, Trade, User


class NewTrade(Protocol):
    """What placement reads (validated at the edge)."""

    @property
    def user_ref(self) -> str: ...

    @property
    def ticker(self) -> str: ...

    @property
    def transaction_type(self) -> Side: ...

    @property
    def transaction_volume(self) -> int: ...

    @property
    def limit_price(self) -> Decimal | None: ...

    @property
    def time_in_force(self) -> TimeInForce: ...

    @property
    def client_order_id(self) -> str | None: ...


@dataclass(frozen=True)
class Placed:
    body: dict[str, Any]
    replayed: bool


def place(new: NewTrade, idempotency_key: str | None, uow: UnitOfWork) -> Placed:
    """`idempotency_key` is the header's; `client_order_id` in the body serves as the key without one.

    Most orders are placed by one statement that locks, checks, reserves and writes in a single round trip. When
    it places nothing, the order is looked at again in a transaction that locks the same rows: that says why (a
    replay, a reused key, no such user or stock, not enough available), or places it if what was missing has
    arrived since."""
    keyed = _stored_key(idempotency_key, new.client_order_id)
    fingerprint = _fingerprint(new)
    trade_id = uuid.uuid4()
    placed = uow.place_order(trade_id=trade_id, user_ref=new.user_ref, ticker=new.ticker,
                             side=new.transaction_type, volume=new.transaction_volume,
                             limit_price=new.limit_price, time_in_force=new.time_in_force,
                             client_order_id=new.client_order_id, idempotency_key=keyed[0] if keyed else None,
                             fingerprint=fingerprint, message=settlement_message(trade_id))
    if placed is not None:
        return Placed(views.trade_accepted(placed, placed.username), replayed=False)
    return _place_in_a_transaction(new, keyed, fingerprint, trade_id, uow)


def _place_in_a_transaction(new: NewTrade, keyed: tuple[str, str] | None, fingerprint: str, trade_id: uuid.UUID,
                            uow: UnitOfWork) -> Placed:
    key = keyed[0] if keyed else None
    with uow:
        # The user row lock serialises a user's placements: reservations and idempotency keys stay exact.
        user = uow.users.get(new.user_ref, for_update=True)
        if keyed is not None:
            earlier = _earlier_with_key(uow, user, *keyed, *_fingerprints(fingerprint, user.id, new))
            if earlier is not None:
                return Placed(views.trade_accepted(earlier, user.username), replayed=True)
        stock = uow.stocks.get(new.ticker)
        if stock is None:
            raise NotFound(f"stock {new.ticker!r} not found", [{"field": "ticker"}])
        holding = uow.holdings.get_for_update(user.id, stock.ticker) if new.transaction_type == Side.SELL else None
        order = rules.Order(new.transaction_type, new.transaction_volume, stock.close_price,
                            limit_price=new.limit_price)
        _pre_check(order, user, stock, holding)
        cash, shares = _reserve(order, user, holding)
        trade = uow.trades.add(id=trade_id, user_id=user.id, ticker=stock.ticker, side=order.side,
                               volume=order.volume, reserved_cash=cash, reserved_quantity=shares,
                               status=TradeStatus.PENDING, limit_price=new.limit_price, time_in_force=new.time_in_force,
                               client_order_id=new.client_order_id, idempotency_key=key,
                               request_fingerprint=fingerprint)
        uow.outbox.add(trade.id, settlement_message(trade.id))
        uow.record(TradePlaced.of(trade, user.username, key))
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


def _earlier_with_key(uow: UnitOfWork, user: User, key: str, field: str, *fingerprints: str) -> Trade | None:
    """The trade an earlier request with this key placed; the same key with another request is a conflict."""
    earlier = uow.trades.by_idempotency_key(user.id, key)
    if earlier is None:
        return None
    if earlier.request_fingerprint not in fingerprints:
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
    raise Refused(reason, _refusal_message(reason, order, account))


def _reserve(order: rules.Order, user: User, holding: Holding | None) -> tuple[Decimal, int]:
    """Set aside the order's cash (a buy) or shares (a sell) on the locked rows; returns what was set aside."""
    cash, shares = rules.reservation(order)
    user.reserved_cash += cash
    if holding is not None:
        holding.reserved_quantity += shares
    return cash, shares


def _fingerprint(new: NewTrade) -> str:
    """What tells a repeated request from another one under the same key (keys are per user, so the user is not
    part of it). A market order's fingerprint is spelled as before limit orders existed, so its keys still replay."""
    canonical: dict[str, Any] = {"ticker": new.ticker, "side": new.transaction_type,
                                 "volume": new.transaction_volume, "client_order_id": new.client_order_id}
    if new.limit_price is not None:
        canonical |= {"limit_price": str(new.limit_price), "time_in_force": new.time_in_force}
    return _digest(canonical)


def _fingerprints(fingerprint: str, user_id: uuid.UUID, new: NewTrade) -> tuple[str, ...]:
    """The fingerprints an earlier placement of this same request may carry."""
    return (fingerprint,) if new.limit_price is not None else (fingerprint, _legacy_fingerprint(user_id, new))


def _legacy_fingerprint(user_id: uuid.UUID, new: NewTrade) -> str:
    # Market orders placed before the one-statement placement were fingerprinted with their user's id.
    return _digest({"user_id": str(user_id), "ticker": new.ticker, "side": new.transaction_type,
                    "volume": new.transaction_volume, "client_order_id": new.client_order_id})


def _digest(canonical: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _refusal_message(reason: str, order: rules.Order, account: rules.Account) -> str:
    if reason == Reason.INSUFFICIENT_FUNDS:
        available = account.balance - account.reserved_cash
        at = "at the limit price " if order.limit_price is not None else ""
        return (f"buying {order.volume} {at}costs {order.most_it_may_cost:.2f} but only {available:.2f} "
                "is available")
    if reason == Reason.INSUFFICIENT_VOLUME:
        return f"buying {order.volume} shares but only {account.stock_volume} are on offer"
    available_shares = account.quantity - account.reserved_quantity
    return f"selling {order.volume} shares but only {available_shares} are held and not already being sold"
