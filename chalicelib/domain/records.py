"""What the use cases answer with: frozen records of what is stored, in the domain's types (Decimal, datetime,
UUID, the vocabulary). Each surface renders them in its own JSON (chalicelib/api/<surface>/presenters.py); the
core never does."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Any, ClassVar, Generic, Self, TypeVar

from chalicelib.domain.vocabulary import (
    ActivityKind,
    CashKind,
    OrderStatus,
    OrderType,
    Reason,
    Side,
    TimeInForce,
    TradeStatus,
    order_status,
)

Value = TypeVar("Value")
Rendered = TypeVar("Rendered")


class Record:
    # Fields that hold a word of the vocabulary (stored as its text), and the vocabulary each is read in.
    WORDS: ClassVar[dict[str, type[StrEnum]]] = {}

    @classmethod
    def of(cls, row: Any, **given: Any) -> Self:
        """The record of `row` (a table row, a statement's result): each field read by its name, unless given."""
        return cls.of_mapping({field.name: given[field.name] if field.name in given else getattr(row, field.name)
                               for field in fields(cls)})  # type: ignore[arg-type]

    @classmethod
    def of_mapping(cls, values: Mapping[str, Any]) -> Self:
        found = dict(values)
        for name, vocabulary in cls.WORDS.items():
            if found.get(name) is not None:
                found[name] = vocabulary(found[name])
        return cls(**found)


@dataclass(frozen=True, slots=True)
class User(Record):
    id: uuid.UUID
    username: str
    balance: Decimal
    reserved_cash: Decimal  # set aside for pending buys
    created_at: datetime

    @property
    def available_balance(self) -> Decimal:
        return self.balance - self.reserved_cash


@dataclass(frozen=True, slots=True)
class Account:
    """A user with what their shares are worth at current prices, and the account's configuration."""

    user: User
    market_value: Decimal
    configuration: AccountConfiguration


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stock's latest minute, latest day and the day before it (None when it has one day of bars)."""

    minute: Bucket
    day: Bucket
    previous_day: Bucket | None


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """A window of an account's history: its start, the equity at its end, and the P/L since the first window's
    end (deposits and withdrawals left out)."""

    start: datetime
    equity: Decimal
    profit_loss: Decimal


@dataclass(frozen=True, slots=True)
class EquityHistory:
    points: list[EquityPoint]
    base_value: Decimal | None  # the equity at the first window's end
    step: str  # the window, as asked for (1Min, 5Min, 15Min, 1H, 1D)


@dataclass(frozen=True, slots=True)
class AccountConfiguration(Record):
    """What an account's owner has set: while `trading_suspended` it places no new orders."""

    trading_suspended: bool
    trade_confirm_email: str
    ptp_no_exception_entry: bool


@dataclass(frozen=True, slots=True)
class Stock(Record):
    """A stock's current prices (its latest bar's) and the volume on offer."""

    ticker: str
    open_price: Decimal
    close_price: Decimal
    high: Decimal
    low: Decimal
    volume: int
    created_at: datetime
    price_as_of: datetime


@dataclass(frozen=True, slots=True)
class Bar(Record):
    ticker: str
    timestamp: datetime
    open_price: Decimal
    close_price: Decimal
    high: Decimal
    low: Decimal
    volume: int


@dataclass(frozen=True, slots=True)
class Bucket(Record):
    """Bars of one ticker aggregated over a timeframe's bucket, which starts at `start`."""

    ticker: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    trades: int
    vwap: Decimal | None


@dataclass(frozen=True, slots=True)
class BarRecorded:
    """`latest`: the bar moved the stock's price; an older bar only joined the history."""

    bar: Bar
    stock: Stock
    latest: bool


@dataclass(frozen=True, slots=True)
class Position(Record):
    """A holding with its stock's current close price. Its figures are exact (unrounded); an answer rounds each
    once."""

    ticker: str
    quantity: int
    reserved_quantity: int  # promised to open sells
    average_entry_price: Decimal
    close_price: Decimal

    @property
    def available(self) -> int:
        return self.quantity - self.reserved_quantity

    @property
    def cost_basis(self) -> Decimal:
        return _exactly(lambda: self.average_entry_price * self.quantity)

    @property
    def market_value(self) -> Decimal:
        return _exactly(lambda: self.close_price * self.quantity)

    @property
    def unrealized_pl(self) -> Decimal:
        return _exactly(lambda: self.market_value - self.cost_basis)

    @property
    def unrealized_plpc(self) -> Decimal | None:
        """Unrealized P/L as a fraction of the cost basis; None with no cost."""
        cost = self.cost_basis
        return None if not cost else _exactly(lambda: self.unrealized_pl / cost)


def _exactly(compute: Callable[[], Decimal]) -> Decimal:
    # Wide enough that nothing is rounded before the one rounding an answer makes.
    with localcontext() as exact:
        exact.prec = 60
        return compute()


@dataclass(frozen=True, slots=True)
class Trade(Record):
    """An order: what it asks, what of it filled, and, once final, how it ended; `username` is its user's."""

    WORDS: ClassVar[dict[str, type[StrEnum]]] = {"side": Side, "status": TradeStatus, "reason": Reason,
                                                  "time_in_force": TimeInForce, "order_type": OrderType}

    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    ticker: str
    side: Side
    volume: int
    reserved_cash: Decimal
    reserved_quantity: int
    status: TradeStatus
    created_at: datetime
    limit_price: Decimal | None
    time_in_force: TimeInForce | None  # None: the classic order (filled whole when evaluated, or rejected)
    client_order_id: str | None
    order_type: OrderType = OrderType.MARKET
    stop_price: Decimal | None = None
    price: Decimal | None = None  # the latest fill's
    total: Decimal | None = None  # what its fills cost or paid
    filled_qty: int = 0
    filled_avg_price: Decimal | None = None
    reason: Reason | None = None
    settled_at: datetime | None = None
    canceled_at: datetime | None = None
    rejected_at: datetime | None = None
    expired_at: datetime | None = None
    replaced_at: datetime | None = None
    triggered_at: datetime | None = None
    expires_at: datetime | None = None
    replaces: uuid.UUID | None = None
    replaced_by: uuid.UUID | None = None
    realized_pl: Decimal | None = None

    @property
    def order_status(self) -> OrderStatus:
        return order_status(self.status, self.filled_qty)

    @property
    def is_open(self) -> bool:
        return self.status == TradeStatus.PENDING

    @property
    def ended_at(self) -> datetime | None:
        return self.settled_at or self.canceled_at or self.rejected_at or self.expired_at or self.replaced_at


@dataclass(frozen=True, slots=True)
class Fill(Record):
    """One execution of an order."""

    WORDS: ClassVar[dict[str, type[StrEnum]]] = {"side": Side}

    id: uuid.UUID
    trade_id: uuid.UUID
    ticker: str
    side: Side
    quantity: int
    price: Decimal
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CashMovement(Record):
    WORDS: ClassVar[dict[str, type[StrEnum]]] = {"kind": CashKind}

    id: uuid.UUID
    kind: CashKind
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CashMoved:
    movement: CashMovement
    user: User  # as the movement left it


@dataclass(frozen=True, slots=True)
class Activity(Record):
    """One entry of the activity feed: `amount` is the cash it moved (None for a rejection, cancel or expiry);
    a fill's `id` is the fill's, `trade_id` its order's (an order's other entries: both the order's)."""

    WORDS: ClassVar[dict[str, type[StrEnum]]] = {"kind": ActivityKind, "side": Side}

    kind: ActivityKind
    id: uuid.UUID
    at: datetime
    amount: Decimal | None
    ticker: str | None
    side: Side | None
    volume: int | None
    price: Decimal | None
    reason: str | None
    trade_id: uuid.UUID | None = None
    filled_so_far: int | None = None  # of the order, once this entry happened (a fill: its part included)
    order_volume: int | None = None  # of the order, of an entry of one


@dataclass(frozen=True, slots=True)
class Key:
    """A key as its owner lists it: never its secret, nor its digest."""

    key_id: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just issued: the only time its token is shown."""

    key_id: str
    token: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewUser:
    user: User
    key: NewKey


@dataclass(frozen=True, slots=True)
class Ticket:
    """An order as it is to be placed: its new id, who places it, what it asks, and the key it is remembered by."""

    trade_id: uuid.UUID
    user_ref: str  # a username or a user id
    ticker: str
    side: Side
    volume: int
    limit_price: Decimal | None
    time_in_force: TimeInForce | None
    client_order_id: str | None
    idempotency_key: str | None
    fingerprint: str
    order_type: OrderType = OrderType.MARKET
    stop_price: Decimal | None = None
    expires_at: datetime | None = None  # a day order's session close
    replaces: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Replayable(Generic[Value]):
    """What an idempotent request did, or did the first time it was made under its key (`replayed`)."""

    value: Value
    replayed: bool

    def map(self, render: Callable[[Value], Rendered]) -> Replayable[Rendered]:
        return Replayable(render(self.value), self.replayed)
