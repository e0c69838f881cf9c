"""Placing a trade: replay an idempotent retry, pre-check buying power, set aside cash or shares, and record the
trade as pending with its outbox message, all by the order desk's one statement; the message goes to SQS after
it committed."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from chalicelib.adapters.logs import get_logger
from chalicelib.domain import records, rules
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import NotFound, Refused, Unavailable, ValidationFailed
from chalicelib.domain.events import TradePlaced
from chalicelib.domain.vocabulary import OrderType, Reason, Side, TimeInForce
from chalicelib.services import idempotency
from chalicelib.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.adapters.tables import Holding, Stock, User

# How often an order the desk did not place, for which nothing is found wrong, is tried again: each time means a
# concurrent change (a deposit, a new stock) arrived between the statement and the look.
PLACEMENT_ATTEMPTS = 3


class OrderDesk(Protocol):
    """Where orders are placed (chalicelib/adapters/placement.py): `place` has either committed the trade, its
    reservation and its outbox message together, by itself, or written nothing (None)."""

    def place(self, ticket: records.Ticket) -> records.Trade | None: ...


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
    def time_in_force(self) -> TimeInForce | None: ...

    @property
    def client_order_id(self) -> str | None: ...

    @property
    def kind(self) -> OrderType: ...

    @property
    def stop_price(self) -> Decimal | None: ...


def place(new: NewTrade, idempotency_key: str | None, uow: UnitOfWork, desk: OrderDesk,
          clock: Clock) -> records.Replayable[records.Trade]:
    """`idempotency_key` is the header's; `client_order_id` in the body serves as the key without one.

    The desk places most orders in one statement that locks, checks, reserves and writes in a single round
    trip. When it places nothing, the order is looked at in a transaction that locks the same rows: that says
    why (a replay, a reused key, no such user or stock, not enough available); if nothing is wrong any more, the
    desk tries again."""
    keyed = _stored_key(idempotency_key, new.client_order_id)
    ticket = records.Ticket(uuid.uuid4(), new.user_ref, new.ticker, new.transaction_type, new.transaction_volume,
                            new.limit_price, new.time_in_force, new.client_order_id, keyed[0] if keyed else None,
                            _fingerprint(new), new.kind, new.stop_price,
                            clock.day_order_expires_at if new.time_in_force == TimeInForce.DAY else None)
    for _ in range(PLACEMENT_ATTEMPTS):
        placed = desk.place(ticket)
        if placed is not None:
            uow.committed(TradePlaced(placed, idempotency_key=ticket.idempotency_key))
            return records.Replayable(placed, replayed=False)
        earlier = _why_not_placed(new, keyed, ticket, uow)
        if earlier is not None:
            return records.Replayable(earlier, replayed=True)
    raise Unavailable("the order could not be placed while what it needs kept changing; try again")


def _why_not_placed(new: NewTrade, keyed: tuple[str, str] | None, ticket: records.Ticket,
                    uow: UnitOfWork) -> records.Trade | None:
    """The trade an earlier request with this key placed; else raises what stands in the order's way, or returns
    None when nothing does (any more)."""
    with uow:
        # The user row lock waits for the user's placements in flight, so what is read here is what they left.
        user = uow.users.get(new.user_ref, for_update=True)
        if keyed is not None:
            earlier = idempotency.replay(uow.trades.by_idempotency_key(user.id, keyed[0]), ticket.fingerprint,
                                         keyed[1])
            if earlier is not None:
                return records.Trade.of(earlier, username=user.username)
        rules.ensure_trading(user.trading_suspended)
        stock = uow.stocks.get(new.ticker)
        if stock is None:
            raise NotFound(f"stock {new.ticker!r} not found", [{"field": "ticker"}])
        holding = uow.holdings.get_for_update(user.id, stock.ticker) if new.transaction_type == Side.SELL else None
        order = rules.Order(new.transaction_type, new.transaction_volume, stock.close_price,
                            limit_price=new.limit_price, order_type=new.kind, stop_price=new.stop_price,
                            time_in_force=new.time_in_force)
        _pre_check(order, user, stock, holding)
    return None


def _stored_key(header: str | None, client_order_id: str | None) -> tuple[str, str] | None:
    """The key a request is remembered by, and the field that gave it. The header and `client_order_id` are
    separate key spaces: a header equal to an earlier order's `client_order_id` is a request of its own."""
    if header is not None:
        return f"header:{header}", "Idempotency-Key"
    if client_order_id is not None:
        return f"order:{client_order_id}", "client_order_id"
    return None


def _pre_check(order: rules.Order, user: User, stock: Stock, holding: Holding | None) -> None:
    """The broker's buying-power check; a refusal creates nothing."""
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


def _fingerprint(new: NewTrade) -> str:
    return idempotency.fingerprint({
        "ticker": new.ticker, "side": new.transaction_type, "volume": new.transaction_volume,
        "client_order_id": new.client_order_id, "time_in_force": new.time_in_force,
        "limit_price": None if new.limit_price is None else str(new.limit_price),
        **({} if new.kind in (OrderType.MARKET, OrderType.LIMIT) else
           {"order_type": new.kind, "stop_price": str(new.stop_price)})})


def _refusal_message(reason: Reason, order: rules.Order, account: rules.Account) -> str:
    if reason == Reason.INSUFFICIENT_FUNDS:
        available = account.balance - account.reserved_cash
        at = ("at the limit price " if order.limit_price is not None else
              "at the stop price " if order.reserve_price != order.price else "")
        return (f"buying {order.volume} {at}costs {order.most_it_may_cost:.2f} but only {available:.2f} "
                "is available")
    if reason == Reason.INSUFFICIENT_VOLUME:
        return f"buying {order.volume} shares but only {account.stock_volume} are on offer"
    available_shares = account.quantity - account.reserved_quantity
    return f"selling {order.volume} shares but only {available_shares} are held and not already being sold"


class Liquidation(Protocol):
    """How much of a position to close: `quantity` shares, or `percentage` of those held (neither: all)."""

    @property
    def quantity(self) -> int | None: ...

    @property
    def percentage(self) -> Decimal | None: ...


@dataclass(frozen=True)
class _MarketSell:
    user_ref: str
    ticker: str
    transaction_volume: int
    transaction_type: Side = Side.SELL
    limit_price: Decimal | None = None
    time_in_force: TimeInForce | None = TimeInForce.DAY
    client_order_id: str | None = None
    kind: OrderType = OrderType.MARKET
    stop_price: Decimal | None = None


def close_position(user_ref: str, ticker: str, how_much: Liquidation, uow: UnitOfWork, desk: OrderDesk,
                   clock: Clock) -> records.Trade:
    """Place a market sell (day) of all or part of a position: of the shares held, those not already promised
    to open sells. 404 without a position; 400 when nothing (or too little) is free to sell."""
    ticker = ticker.upper()
    with uow:
        user = uow.users.get(user_ref)
        holding = uow.holdings.get_for_update(user.id, ticker)
        held = 0 if holding is None else holding.quantity
        free = 0 if holding is None else holding.quantity - holding.reserved_quantity
    if held == 0:
        raise NotFound(f"no position in {ticker!r}")
    if how_much.quantity is not None:
        quantity = how_much.quantity
    elif how_much.percentage is not None:
        quantity = int(held * how_much.percentage / 100)
    else:
        quantity = free
    if quantity < 1:
        raise ValidationFailed("that closes less than one share", [{"field": "percentage", "type": "too_small"}])
    if quantity > free:
        raise Refused(Reason.INSUFFICIENT_SHARES, f"closing {quantity} shares but only {free} of {held} held are "
                      "not already being sold")
    return place(_MarketSell(str(user.id), ticker, quantity), None, uow, desk, clock).value
