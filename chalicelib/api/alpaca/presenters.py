"""How the domain's records read on the /v2 surface: Alpaca's field names and enum values, money and quantities
as strings, times in RFC 3339 UTC."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from chalicelib.domain.moments import iso as moment
from chalicelib.domain.money import format_money
from chalicelib.domain.vocabulary import TimeInForce

if TYPE_CHECKING:
    import uuid

    from chalicelib.api.alpaca import answers
    from chalicelib.domain import paging, records
    from chalicelib.domain.clock import Clock, Session

ZERO = "0"
PLPC_PLACES = Decimal("0.000001")


def order(record: records.Trade) -> answers.OrderOut:
    """The classic order (no time in force) fills whole or not at all when it is evaluated: `fok` in Alpaca's
    words. An order placed on the classic routes without a client order id reads its id as one."""
    updated = record.ended_at or record.triggered_at or record.created_at
    return {
        "id": str(record.id), "client_order_id": record.client_order_id or str(record.id),
        "created_at": moment(record.created_at), "updated_at": moment(updated),
        "submitted_at": moment(record.created_at), "filled_at": _moment(record.settled_at),
        "expired_at": _moment(record.expired_at), "expires_at": _moment(record.expires_at),
        "canceled_at": _moment(record.canceled_at), "failed_at": _moment(record.rejected_at),
        "replaced_at": _moment(record.replaced_at),
        "replaced_by": None if record.replaced_by is None else str(record.replaced_by),
        "replaces": None if record.replaces is None else str(record.replaces),
        "asset_id": str(asset_id(record.ticker)), "symbol": record.ticker, "asset_class": "us_equity",
        "notional": None, "qty": str(record.volume), "filled_qty": str(record.filled_qty),
        "filled_avg_price": None if record.filled_avg_price is None else format_money(record.filled_avg_price),
        "order_class": "simple", "order_type": record.order_type, "type": record.order_type, "side": record.side,
        "time_in_force": record.time_in_force or TimeInForce.FOK,
        "limit_price": None if record.limit_price is None else format_money(record.limit_price),
        "stop_price": None if record.stop_price is None else format_money(record.stop_price),
        "status": record.order_status, "extended_hours": False, "legs": None, "trail_percent": None,
        "trail_price": None, "hwm": None,
    }


def canceled(record: records.Trade) -> answers.CanceledOut:
    return {"id": str(record.id), "status": 200, "body": order(record)}


def account(record: records.Account) -> answers.AccountOut:
    """Cash accounts: no margin, no shorting; buying power is the cash not held for open buys."""
    user = record.user
    cash, free = format_money(user.balance), format_money(user.available_balance)
    equity, held = format_money(user.balance + record.market_value), format_money(record.market_value)
    return {
        "id": str(user.id), "account_number": user.id.hex[:12].upper(), "status": "ACTIVE",
        "crypto_status": "INACTIVE", "currency": "USD", "cash": cash, "buying_power": free,
        "regt_buying_power": free, "daytrading_buying_power": ZERO, "non_marginable_buying_power": free,
        "options_buying_power": ZERO, "portfolio_value": equity, "equity": equity, "last_equity": equity,
        "long_market_value": held, "short_market_value": ZERO, "initial_margin": ZERO, "maintenance_margin": ZERO,
        "last_maintenance_margin": ZERO, "sma": ZERO, "multiplier": "1", "accrued_fees": ZERO,
        "pending_transfer_in": ZERO, "pending_transfer_out": ZERO, "pattern_day_trader": False,
        "trading_blocked": False, "transfers_blocked": False, "account_blocked": False,
        "trade_suspended_by_user": record.configuration.trading_suspended, "shorting_enabled": False,
        "daytrade_count": 0,
        "created_at": moment(user.created_at),
    }


def position(record: records.Position) -> answers.PositionOut:
    plpc = record.unrealized_plpc
    price = format_money(record.close_price)
    return {
        "asset_id": str(asset_id(record.ticker)), "symbol": record.ticker, "exchange": "", "asset_class": "us_equity",
        "asset_marginable": False, "avg_entry_price": format_money(record.average_entry_price),
        "qty": str(record.quantity), "qty_available": str(record.available), "side": "long",
        "market_value": format_money(record.market_value), "cost_basis": format_money(record.cost_basis),
        "unrealized_pl": format_money(record.unrealized_pl),
        "unrealized_plpc": ZERO if plpc is None else f"{plpc.quantize(PLPC_PLACES):f}",
        "unrealized_intraday_pl": ZERO, "unrealized_intraday_plpc": ZERO, "current_price": price,
        "lastday_price": price, "change_today": ZERO,
    }


def asset(record: records.Stock) -> answers.AssetOut:
    return {"id": str(asset_id(record.ticker)), "class": "us_equity", "exchange": "", "symbol": record.ticker,
            "name": record.ticker, "status": "active", "tradable": True, "marginable": False, "shortable": False,
            "easy_to_borrow": False, "fractionable": False, "attributes": []}


def clock(now: Clock) -> answers.ClockOut:
    return {"timestamp": moment(now.now), "is_open": now.is_open, "next_open": moment(now.next_open),
            "next_close": moment(now.next_close)}


def session(day: Session, calendar: str) -> answers.SessionOut:
    """Times as HH:MM in the market's own zone (New York for the NYSE, UTC for the always-open UTC days, whose
    close at midnight reads 23:59 of its day)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York") if calendar == "nyse" else UTC
    opened, closed = day.open.astimezone(zone), day.close.astimezone(zone)
    close = "23:59" if closed.date() > day.date else f"{closed:%H:%M}"
    return {"date": day.date.isoformat(), "open": f"{opened:%H:%M}", "close": close,
            "session_open": f"{opened:%H%M}", "session_close": close.replace(":", "")}


def _moment(at: datetime | None) -> str | None:
    return None if at is None else moment(at)


def asset_id(ticker: str) -> uuid.UUID:
    from chalicelib.domain.assets import asset_id as of

    return of(ticker)


def bar(record: records.Bucket) -> answers.BarOut:
    """Market data, not money held: prices as the JSON numbers Alpaca's data clients parse (each a cent value
    that a float holds to the cent)."""
    return {"t": moment(record.start), "o": float(record.open), "h": float(record.high), "l": float(record.low),
            "c": float(record.close), "v": record.volume, "n": record.trades,
            "vw": None if record.vwap is None else round(float(record.vwap), 4)}


def snapshot(record: records.Snapshot) -> answers.SnapshotOut:
    """The bars only: tradeapi keeps no trades or quotes apart from its bars, so `latestTrade` and `latestQuote`
    (optional in Alpaca's clients) are left out rather than made up."""
    return {"minuteBar": bar(record.minute), "dailyBar": bar(record.day),
            "prevDailyBar": None if record.previous_day is None else bar(record.previous_day)}


def bars(page: paging.Page[records.Bucket]) -> answers.BarsOut:
    grouped: dict[str, list[answers.BarOut]] = {}
    for bucket in page.items:
        grouped.setdefault(bucket.ticker, []).append(bar(bucket))
    return {"bars": grouped, "next_page_token": page.next_cursor}


def activity_id(at: datetime, entry_id: uuid.UUID) -> str:
    """Alpaca's activity id: the time it happened and a UUID. To the microsecond, so that it names the entry a
    page ends at exactly."""
    return f"{at.astimezone(UTC):%Y%m%d%H%M%S%f}::{entry_id}"


def activity(record: records.Activity, account_id: str) -> answers.ActivityOut:
    """A fill is a FILL; a deposit a CSD and a withdrawal a CSW (the feed's other entries are not activities in
    Alpaca's sense: a cancel or an expiry is an order's status)."""
    from chalicelib.domain.vocabulary import ActivityKind

    if record.kind == ActivityKind.FILL and record.side is not None:
        done = record.filled_so_far or 0
        whole = done == record.order_volume
        return {"id": activity_id(record.at, record.id), "account_id": account_id, "activity_type": "FILL",
                "transaction_time": moment(record.at), "type": "fill" if whole else "partial_fill",
                "price": format_money(record.price or Decimal(0)), "qty": str(record.volume),
                "side": record.side, "symbol": record.ticker or "",
                "leaves_qty": str((record.order_volume or 0) - done), "order_id": str(record.trade_id),
                "cum_qty": str(done), "order_status": "filled" if whole else "partially_filled"}
    amount = record.amount or Decimal(0)
    return {"id": activity_id(record.at, record.id), "account_id": account_id,
            "activity_type": "CSD" if record.kind == ActivityKind.DEPOSIT else "CSW",
            "date": record.at.astimezone(UTC).date().isoformat(),
            "net_amount": format_money(amount if record.kind == ActivityKind.DEPOSIT else -amount),
            "description": "", "status": "executed", "symbol": None, "qty": None, "per_share_amount": None}


def configuration(record: records.AccountConfiguration) -> answers.ConfigurationOut:
    return {"dtbp_check": None, "fractional_trading": False, "max_margin_multiplier": "1", "no_shorting": True,
            "pdt_check": None, "suspend_trade": record.trading_suspended,
            "trade_confirm_email": "none" if record.trade_confirm_email == "none" else "all",
            "ptp_no_exception_entry": record.ptp_no_exception_entry, "max_options_trading_level": 0}


def portfolio_history(record: records.EquityHistory) -> answers.PortfolioHistoryOut:
    base = record.base_value
    return {
        "timestamp": [int(point.start.timestamp()) for point in record.points],
        "equity": [float(point.equity) for point in record.points],
        "profit_loss": [float(point.profit_loss) for point in record.points],
        "profit_loss_pct": [None if not base else round(float(point.profit_loss / base), 6)
                            for point in record.points],
        "base_value": None if base is None else float(base),
        "base_value_asof": None if not record.points else record.points[0].start.date().isoformat(),
        "timeframe": record.step, "cashflow": {},
    }
