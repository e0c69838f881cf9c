"""What each /v2 route answers, as alpaca-py 0.44.0's models read it: money and quantities as strings (a
Position's `"qty": 5` fails its model), ids as UUIDs, enum values only from the lists alpaca-py accepts. As on the
classic surface, TypedDicts that the presenters are typed to and the OpenAPI builder renders."""
from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from chalicelib.domain.vocabulary import OrderStatus, OrderType, Side, TimeInForce

Decimal = str  # a decimal number written as a string
Moment = str  # RFC 3339, UTC, with "Z"
Id = str  # a UUID

class OrderOut(TypedDict):
    id: Id
    client_order_id: str
    created_at: Moment
    updated_at: Moment
    submitted_at: Moment
    filled_at: Moment | None
    expired_at: Moment | None
    expires_at: Moment | None
    canceled_at: Moment | None
    failed_at: Moment | None
    replaced_at: Moment | None
    replaced_by: Id | None
    replaces: Id | None
    asset_id: Id
    symbol: str
    asset_class: Literal["us_equity"]
    notional: None
    qty: Decimal
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    order_class: Literal["simple"]
    order_type: OrderType
    type: OrderType
    side: Side
    time_in_force: TimeInForce
    limit_price: Decimal | None
    stop_price: Decimal | None
    status: OrderStatus  # each one of the 18 statuses alpaca-py accepts
    extended_hours: bool
    legs: None
    trail_percent: None
    trail_price: None
    hwm: None


class CanceledOut(TypedDict):
    id: Id
    status: int
    body: OrderOut


class RefusalOut(TypedDict):
    code: int
    message: str


class ClosedOut(TypedDict):
    symbol: str
    status: int
    order_id: Id | None
    body: OrderOut | RefusalOut


class AccountOut(TypedDict):
    id: Id
    account_number: str
    status: Literal["ACTIVE"]
    crypto_status: Literal["INACTIVE"]
    currency: Literal["USD"]
    cash: Decimal
    buying_power: Decimal
    regt_buying_power: Decimal
    daytrading_buying_power: Decimal
    non_marginable_buying_power: Decimal
    options_buying_power: Decimal
    portfolio_value: Decimal
    equity: Decimal
    last_equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    last_maintenance_margin: Decimal
    sma: Decimal
    multiplier: Decimal
    accrued_fees: Decimal
    pending_transfer_in: Decimal
    pending_transfer_out: Decimal
    pattern_day_trader: bool
    trading_blocked: bool
    transfers_blocked: bool
    account_blocked: bool
    trade_suspended_by_user: bool
    shorting_enabled: bool
    daytrade_count: int
    created_at: Moment


class PositionOut(TypedDict):
    asset_id: Id
    symbol: str
    exchange: Literal[""]
    asset_class: Literal["us_equity"]
    asset_marginable: bool
    avg_entry_price: Decimal
    qty: Decimal
    qty_available: Decimal
    side: Literal["long"]
    market_value: Decimal
    cost_basis: Decimal
    unrealized_pl: Decimal
    unrealized_plpc: Decimal
    unrealized_intraday_pl: Decimal
    unrealized_intraday_plpc: Decimal
    current_price: Decimal
    lastday_price: Decimal
    change_today: Decimal


AssetOut = TypedDict("AssetOut", {
    "id": Id, "class": Literal["us_equity"], "exchange": Literal[""], "symbol": str, "name": str,
    "status": Literal["active"], "tradable": bool, "marginable": bool, "shortable": bool, "easy_to_borrow": bool,
    "fractionable": bool, "attributes": list[str]})


class ClockOut(TypedDict):
    timestamp: Moment
    is_open: bool
    next_open: Moment
    next_close: Moment


class SessionOut(TypedDict):
    date: str
    open: str  # HH:MM, in the market's own time zone
    close: str
    session_open: str
    session_close: str


class BarOut(TypedDict):
    """A bar as Alpaca's market data writes it: prices as JSON numbers, `n` the bars aggregated, `vw` the volume-
    weighted average close."""

    t: Moment
    o: float
    h: float
    l: float  # noqa: E741 - Alpaca's name
    c: float
    v: int
    n: int
    vw: float | None


class SnapshotOut(TypedDict):
    minuteBar: BarOut  # Alpaca's names, in camel case
    dailyBar: BarOut
    prevDailyBar: BarOut | None


class BarsOut(TypedDict):
    bars: dict[str, list[BarOut]]
    next_page_token: str | None


class SymbolBarsOut(TypedDict):
    bars: list[BarOut]
    symbol: str
    next_page_token: str | None


class LatestBarsOut(TypedDict):
    bars: dict[str, BarOut]


class ErrorOut(TypedDict):
    """Every failed answer on /v2, as Alpaca's clients read it (alpaca-py's APIError parses `code` and `message`)."""

    code: int
    message: str


class TradeActivityOut(TypedDict):
    """A fill (alpaca-py's TradeActivity). `cum_qty` is what the order had filled once this fill was made."""

    id: str  # "<UTC time to the microsecond, 20 digits>::<UUID>", as Alpaca's ids read; the page token
    account_id: Id
    activity_type: Literal["FILL"]
    transaction_time: Moment
    type: Literal["fill", "partial_fill"]
    price: Decimal
    qty: Decimal
    side: Side
    symbol: str
    leaves_qty: Decimal
    order_id: Id
    cum_qty: Decimal
    order_status: Literal["filled", "partially_filled"]


class NonTradeActivityOut(TypedDict):
    """A deposit (CSD) or withdrawal (CSW) of cash (alpaca-py's NonTradeActivity); `net_amount` < 0 for CSW."""

    id: str
    account_id: Id
    activity_type: Literal["CSD", "CSW"]
    date: str  # YYYY-MM-DD
    net_amount: Decimal
    description: str
    status: Literal["executed"]
    symbol: None
    qty: None
    per_share_amount: None


class ConfigurationOut(TypedDict):
    dtbp_check: None
    fractional_trading: Literal[False]
    max_margin_multiplier: Literal["1"]
    no_shorting: Literal[True]
    pdt_check: None
    suspend_trade: bool
    trade_confirm_email: Literal["all", "none"]
    ptp_no_exception_entry: bool
    max_options_trading_level: Literal[0]


class PortfolioHistoryOut(TypedDict):
    """Equity and P/L as reported figures (JSON numbers, as Alpaca's clients parse them; each a cent value a float
    holds to the cent): `timestamp` is each window's start in Unix seconds; `equity` is as of its end."""

    timestamp: list[int]
    equity: list[float]
    profit_loss: list[float]
    profit_loss_pct: list[float | None]
    base_value: float | None
    base_value_asof: str | None
    timeframe: str
    cashflow: dict[str, list[float]]


ActivityOut = TradeActivityOut | NonTradeActivityOut

SnapshotsOut = dict[str, SnapshotOut]  # keyed by symbol, at the top level, as Alpaca answers it
