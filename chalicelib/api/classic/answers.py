"""What each route of this surface answers: one declaration per answer, as TypedDicts. The presenters are typed
to return them (mypy holds the two together) and the OpenAPI builder renders them to JSON Schema; nothing loads
this module at run time but the builder, so pydantic is never loaded to answer a request."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict  # pydantic reads field annotations only from this one on Python < 3.12

from chalicelib.domain.patterns import KEY_ID_PATTERN
from chalicelib.domain.vocabulary import (
    ActivityKind,
    CashKind,
    OrderStatus,
    OrderType,
    Reason,
    Side,
    TimeInForce,
    TradeStatus,
)

Money = Annotated[str, WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1000.00"]})]
Moment = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Id = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
KeyId = Annotated[str, Field(pattern=KEY_ID_PATTERN)]
ApiKey = Annotated[str, Field(description="Send as `Authorization: Bearer <api_key>`; shown only in this answer")]


def described(text: str) -> Any:
    return Field(description=text)


class UserOut(TypedDict):
    user_id: Id
    username: str
    balance: Annotated[Money, described("Cash")]
    available_balance: Annotated[Money, described("Cash less what pending buys set aside")]
    buying_power: Annotated[Money, described("What a new buy or a withdrawal may use: the available balance")]
    equity: Annotated[Money, described("Cash plus the market value of every position, at current close prices")]
    created_at: Moment


class UserCreated(TypedDict):
    message: str
    user_id: Id
    username: str
    balance: Money
    key_id: KeyId
    api_key: ApiKey


class KeyCreated(TypedDict):
    message: str
    key_id: KeyId
    api_key: ApiKey
    created_at: Moment


class KeyOut(TypedDict):
    key_id: KeyId
    created_at: Moment
    last_used_at: Moment | None


class KeyRevoked(TypedDict):
    message: str
    key_id: str


class StockOut(TypedDict):
    ticker: str
    open_price: Money
    close_price: Money
    high: Money
    low: Money
    volume: Annotated[int, described("Shares on offer: the latest bar's volume less what settled buys took, plus "
                                     "what settled sells gave back")]
    created_at: Moment
    price_as_of: Annotated[Moment, described("The timestamp of the bar these prices come from")]


class StockCreated(TypedDict):
    message: str
    stock: StockOut


class BarOut(TypedDict):
    ticker: str
    timestamp: Moment
    open_price: Money
    close_price: Money
    high: Money
    low: Money
    volume: int


class BarRecorded(TypedDict):
    message: str
    latest: Annotated[bool, described("Whether this bar is now the latest and set the stock's prices and volume")]
    bar: BarOut
    stock: StockOut


class TradeOut(TypedDict):
    transaction_id: Id
    user: str
    user_id: Id
    ticker: str
    transaction_type: Side
    transaction_volume: int
    transaction_price: Annotated[Money | None, described("The price of its latest fill")]
    total: Annotated[Money | None, described("What its fills cost (a buy) or paid (a sell)")]
    status: Annotated[TradeStatus, described("pending while open, settled when filled whole, rejected, or canceled "
                                             "(also when it expired or was replaced: `order_status` tells)")]
    order_status: Annotated[OrderStatus, described("The order engine's status")]
    reason: Reason | None
    timestamp: Moment
    settled_at: Moment | None
    canceled_at: Moment | None
    order_type: OrderType
    limit_price: Annotated[Money | None, described("null for a market or stop order")]
    stop_price: Annotated[Money | None, described("null but for stop and stop_limit orders")]
    triggered_at: Annotated[Moment | None, described("When a close reached the stop of a stop order")]
    filled_qty: int
    filled_avg_price: Annotated[Money | None, described("What its fills cost per share, on average (rounded "
                                                        "half-even to cents)")]
    realized_pl: Annotated[Money | None, described("A sell's fills' (price - average entry price) x quantity")]
    time_in_force: Annotated[TimeInForce | None, described("null: the classic order, filled whole or rejected")]
    expires_at: Annotated[Moment | None, described("A day order's session close")]
    ended_at: Annotated[Moment | None, described("When it reached its final status")]
    replaces: Annotated[Id | None, described("The order this one replaced")]
    replaced_by: Annotated[Id | None, described("The order that replaced this one")]
    client_order_id: str | None


class CanceledAll(TypedDict):
    message: str
    canceled: list[TradeOut]


class FillOut(TypedDict):
    """One execution of an order."""

    fill_id: Id
    transaction_id: Id
    ticker: str
    side: Side
    quantity: int
    price: Money
    amount: Annotated[Money, described("price x quantity")]
    timestamp: Moment


class ClockOut(TypedDict):
    timestamp: Moment
    is_open: bool
    next_open: Moment
    next_close: Annotated[Moment, described("The close of the session open now, or of the next one")]
    calendar: Annotated[str, described("always_open (sessions are UTC days) or nyse")]


class SessionOut(TypedDict):
    date: Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
    open: Moment
    close: Moment


class CalendarOut(TypedDict):
    calendar: str
    sessions: list[SessionOut]


class TradeAccepted(TradeOut):
    message: str


class TradeCanceled(TradeOut):
    message: str


class HoldingOut(TypedDict):
    """A position. Figures are computed unrounded and rounded half-even to cents once."""

    ticker: str
    quantity: int
    available: Annotated[int, described("Shares not set aside for pending sells")]
    average_entry_price: Annotated[Money, described("Weighted average cost of the shares held: recomputed by each "
                                                    "settled buy, unchanged by sells")]
    current_price: Annotated[Money, described("The stock's current close price")]
    cost_basis: Annotated[Money, described("average_entry_price x quantity")]
    market_value: Annotated[Money, described("current_price x quantity")]
    unrealized_pl: Annotated[Money, described("market_value - cost_basis")]
    unrealized_plpc: Annotated[str | None, Field(pattern=r"^-?\d+\.\d{6}$", description=(
        "unrealized_pl / cost_basis as a fraction (\"0.052500\" is 5.25 %); null when the cost basis is 0"))]


class CashMovementOut(TypedDict):
    id: Id
    type: CashKind
    amount: Money
    timestamp: Moment


class CashMoved(TypedDict):
    message: str
    movement: CashMovementOut
    balance: Money
    available_balance: Money


class ActivityOut(TypedDict):
    """One entry of the activity feed."""

    type: ActivityKind
    id: Annotated[Id, described("The fill's id, the transaction's, or the cash movement's")]
    transaction_id: Annotated[Id | None, described("The order of a fill, rejection, cancel or expiry")]
    timestamp: Annotated[Moment, described("When it happened: filled, rejected, canceled, expired or moved")]
    amount: Annotated[Money | None, described("The cash a fill (price x quantity), deposit or withdrawal moved; "
                                              "null for a rejection, a cancel or an expiry")]
    ticker: str | None
    side: Side | None
    volume: Annotated[int | None, described("A fill's quantity; what a rejection, cancel or expiry left unfilled")]
    price: Money | None
    reason: str | None


class ErrorInfo(TypedDict):
    code: str
    message: str
    # What is wrong with each part of the request; `field` names it where there is one.
    details: list[dict[str, object]]


class ErrorOut(TypedDict):
    """The one error shape of every failed answer."""

    error: ErrorInfo


class CheckOut(TypedDict):
    status: Literal["ok", "down"]
    latency_ms: float
    error: str | None


class HealthOut(TypedDict, total=False):
    status: Literal["ok", "unavailable"]
    checks: dict[Literal["database", "cache", "queue"], CheckOut]
    # Local stages only: the AWS emulator behind the queue ("localstack 4.4.0", "moto 5.2.5"), if known.
    emulator: str | None
