"""Database tables as SQLAlchemy 2.x typed models. Constraints here are the last line of defence for the rules."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chalicelib.domain.assets import ASSET_ID_SQL
from chalicelib.domain.vocabulary import CashKind, OrderType, Scope, Side, TimeInForce, TradeStatus, sql_in

# Prices fit 9,999,999,999.99; balances and totals are price x volume (volume up to 10^9) plus gains.
Price = Numeric(12, 2)
Amount = Numeric(24, 2)
# Averages and the P/L derived from them, kept unrounded (to 20 places) so that sums of them stay exact to the
# cent; they are rounded half-even to cents once, where an answer shows them.
Exact = Numeric(40, 20)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return func.now()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_non_negative"),
        CheckConstraint("reserved_cash >= 0", name="reserved_cash_non_negative"),
        CheckConstraint("reserved_cash <= balance", name="reserved_cash_within_balance"),
        CheckConstraint("trade_confirm_email IN ('all', 'none')", name="trade_confirm_email_known"),
        # Unique whatever the case, as users expect: `ALICE1` is taken once `alice1` is. A user is still named
        # exactly as registered everywhere else.
        Index("uq_users_lower_username", text("lower(username)"), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(50))
    balance: Mapped[Decimal] = mapped_column(Amount)
    # The cash registered with: balance = starting_balance + deposits - withdrawals - settled buys + settled sells.
    starting_balance: Mapped[Decimal] = mapped_column(Amount)
    # Cash promised to pending buys; available_balance = balance - reserved_cash.
    reserved_cash: Mapped[Decimal] = mapped_column(Amount, default=Decimal("0"), server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    # The account's trading configuration: while suspended by its owner it places no new orders.
    trading_suspended: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    trade_confirm_email: Mapped[str] = mapped_column(String(4), default="all", server_default=text("'all'"))
    ptp_no_exception_entry: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    @property
    def available_balance(self) -> Decimal:
        return self.balance - self.reserved_cash


class PriceData:
    """Prices and volume as a stock's current data and each of its bars carry them."""

    open_price: Mapped[Decimal] = mapped_column(Price)
    close_price: Mapped[Decimal] = mapped_column(Price)
    high: Mapped[Decimal] = mapped_column(Price)
    low: Mapped[Decimal] = mapped_column(Price)
    volume: Mapped[int] = mapped_column(BigInteger)


def _price_checks() -> tuple[CheckConstraint, ...]:
    """The rules PriceData keeps, a set per table."""
    return (
        CheckConstraint("low >= 0", name="low_non_negative"),
        CheckConstraint("low <= open_price AND open_price <= high", name="open_within_range"),
        CheckConstraint("low <= close_price AND close_price <= high", name="close_within_range"),
        CheckConstraint("volume >= 0", name="volume_non_negative"),
    )


class Stock(PriceData, Base):
    """A stock at its latest bar's prices. `volume` is what is on offer: the latest bar's volume (0..2^31-1) less
    what settled buys took from it, plus what settled sells gave back."""

    __tablename__ = "stocks"
    __table_args__ = (*_price_checks(), Index("uq_stocks_asset_id", "asset_id", unique=True))

    ticker: Mapped[str] = mapped_column(String(15), primary_key=True)
    # Derived from the ticker by the database, so every writer of stocks gets it (chalicelib.domain.assets).
    asset_id: Mapped[uuid.UUID] = mapped_column(Uuid, Computed(ASSET_ID_SQL, persisted=True))
    # Shares on offer plus all holdings of this ticker, fixed when the latest bar was applied: settlement moves
    # shares between the two and never changes the sum (the invariant checker holds it to that).
    total_shares: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    # The timestamp of the bar the prices come from; an older bar never moves them.
    price_as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    # The bar the resting orders were last evaluated against, and when: the market tick evaluates them again when
    # a bar's evaluation went missing, or when a session opened since.
    orders_evaluated_as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    orders_evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PriceBar(PriceData, Base):
    """One bar of a stock's price history; the latest by timestamp is the stock's current price."""

    __tablename__ = "price_bars"
    __table_args__ = _price_checks()

    ticker: Mapped[str] = mapped_column(ForeignKey("stocks.ticker"), primary_key=True)
    # Newest-first pages of one ticker's bars read the primary key's index backwards.
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Holding(Base):
    __tablename__ = "holdings"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("reserved_quantity >= 0", name="reserved_quantity_non_negative"),
        CheckConstraint("reserved_quantity <= quantity", name="reserved_quantity_within_quantity"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    ticker: Mapped[str] = mapped_column(ForeignKey("stocks.ticker"), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # Shares promised to pending sells; available = quantity - reserved_quantity.
    reserved_quantity: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # The weighted average cost of the shares held: recomputed by each settled buy, unchanged by sells, 0 when
    # none are held.
    average_entry_price: Mapped[Decimal] = mapped_column(Exact, default=Decimal("0"), server_default=text("0"))


class Trade(Base):
    """An order, open (`pending`) until it reaches one final status; the API calls it a transaction. Its fills
    are rows of their own (`Fill`); `filled_qty`, `total` and `realized_pl` are their sums."""

    __tablename__ = "trades"
    __table_args__ = (
        CheckConstraint(sql_in("side", Side), name="side_known"),
        CheckConstraint("volume BETWEEN 1 AND 1000000000", name="volume_in_range"),
        CheckConstraint(sql_in("status", TradeStatus), name="status_known"),
        CheckConstraint(sql_in("order_type", OrderType), name="order_type_known"),
        CheckConstraint(sql_in("time_in_force", TimeInForce), name="time_in_force_known"),
        CheckConstraint("filled_qty BETWEEN 0 AND volume", name="filled_within_volume"),
        CheckConstraint("(status = 'settled') = (filled_qty = volume)", name="settled_is_filled"),
        CheckConstraint("(status = 'settled') = (settled_at IS NOT NULL)", name="settled_has_time"),
        CheckConstraint("(filled_qty > 0) = (price IS NOT NULL AND total IS NOT NULL AND filled_avg_price IS NOT NULL)",
                        name="fills_priced"),
        CheckConstraint("status <> 'rejected' OR reason IS NOT NULL", name="rejected_has_reason"),
        CheckConstraint("reason IS NULL OR status IN ('rejected', 'canceled')", name="reason_on_rejected_or_canceled"),
        CheckConstraint("(status = 'canceled') = (canceled_at IS NOT NULL)", name="canceled_has_time"),
        CheckConstraint("(status = 'rejected') = (rejected_at IS NOT NULL)", name="rejected_has_time"),
        CheckConstraint("(status = 'expired') = (expired_at IS NOT NULL)", name="expired_has_time"),
        CheckConstraint("(status = 'replaced') = (replaced_at IS NOT NULL AND replaced_by IS NOT NULL)",
                        name="replaced_has_successor"),
        CheckConstraint("realized_pl IS NULL OR (side = 'sell' AND filled_qty > 0)", name="realized_on_sells"),
        CheckConstraint("limit_price >= 0", name="limit_price_non_negative"),
        CheckConstraint("stop_price >= 0", name="stop_price_non_negative"),
        CheckConstraint("(order_type IN ('limit', 'stop_limit')) = (limit_price IS NOT NULL)", name="limit_has_price"),
        CheckConstraint("(order_type IN ('stop', 'stop_limit')) = (stop_price IS NOT NULL)", name="stop_has_price"),
        CheckConstraint("triggered_at IS NULL OR order_type IN ('stop', 'stop_limit')", name="only_stops_trigger"),
        CheckConstraint("(expires_at IS NOT NULL) = (time_in_force IS NOT DISTINCT FROM 'day')",
                        name="day_orders_expire"),
        CheckConstraint("reserved_cash >= 0 AND reserved_quantity >= 0", name="reservations_non_negative"),
        # Newest-first pages and time ranges of one user's trades.
        Index("ix_trades_user_id_created_at_id", "user_id", text("created_at DESC"), text("id DESC")),
        Index(
            "uq_trades_user_id_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # The book: a new bar finds the resting orders it crosses as ranges of these (chalicelib/adapters/book.py).
        Index("ix_trades_resting_limits", "ticker", "side", "limit_price", postgresql_where=text("status = 'pending'")),
        Index("ix_trades_resting_stops", "ticker", "side", "stop_price",
              postgresql_where=text("status = 'pending' AND triggered_at IS NULL AND stop_price IS NOT NULL")),
        Index("ix_trades_day_orders", "expires_at",
              postgresql_where=text("status = 'pending' AND expires_at IS NOT NULL")),
    )

    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy reads it once, at mapping

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    ticker: Mapped[str] = mapped_column(ForeignKey("stocks.ticker"))
    side: Mapped[str] = mapped_column(String(4))
    volume: Mapped[int] = mapped_column(BigInteger)
    # Cash (buy) or shares (sell) the order still holds: set aside at placement, freed by each fill's share and,
    # whole, when it ends.
    reserved_cash: Mapped[Decimal] = mapped_column(Amount, default=Decimal("0"), server_default=text("0"))
    reserved_quantity: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(10), default=TradeStatus.PENDING,
                                        server_default=text(f"'{TradeStatus.PENDING}'"))
    reason: Mapped[str | None] = mapped_column(String(40))
    # The latest fill's price; `total` is what all fills cost or paid, `filled_avg_price` total / filled_qty.
    price: Mapped[Decimal | None] = mapped_column(Price)
    total: Mapped[Decimal | None] = mapped_column(Amount)
    filled_qty: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    filled_avg_price: Mapped[Decimal | None] = mapped_column(Exact)
    # clock_timestamp(), not now(): taken after the placement's row locks, so a user's trades are stamped in
    # the order they were accepted even when their transactions began in another order.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # filled whole
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The sum of the sell fills' (price - average entry price) x quantity.
    realized_pl: Mapped[Decimal | None] = mapped_column(Exact)
    order_type: Mapped[str] = mapped_column(String(10), default=OrderType.MARKET,
                                            server_default=text(f"'{OrderType.MARKET}'"))
    # A buy fills only at or below it, a sell at or above.
    limit_price: Mapped[Decimal | None] = mapped_column(Price)
    # A buy stop triggers at a close at or above it, a sell stop at or below; then it acts as a market (stop) or
    # limit (stop_limit) order.
    stop_price: Mapped[Decimal | None] = mapped_column(Price)
    triggered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # day, gtc, ioc or fok; NULL is the classic order, filled whole when it is evaluated or rejected.
    time_in_force: Mapped[str | None] = mapped_column(String(3))
    # A day order's session close.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaces: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trades.id"))
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trades.id"))
    client_order_id: Mapped[str | None] = mapped_column(String(48))
    # "header:<Idempotency-Key>" or "order:<client_order_id>": two key spaces that never meet.
    idempotency_key: Mapped[str | None] = mapped_column(String(300))
    # sha256 of the canonical request, so a reused key with another body is told apart.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))


class Fill(Base):
    """One execution of an order: the quantity that filled, at which price, when. Balances, positions, the P/L
    and the activity feed are the sums of these."""

    __tablename__ = "fills"
    __table_args__ = (
        CheckConstraint(sql_in("side", Side), name="side_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("amount = price * quantity", name="amount_is_price_times_quantity"),
        CheckConstraint("realized_pl IS NULL OR side = 'sell'", name="realized_on_sells"),
        Index("ix_fills_trade_id_created_at", "trade_id", "created_at"),
        # Newest-first pages of a user's activities.
        Index("ix_fills_user_id_created_at_id", "user_id", text("created_at DESC"), text("id DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    trade_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trades.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    ticker: Mapped[str] = mapped_column(ForeignKey("stocks.ticker"))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[Decimal] = mapped_column(Price)
    amount: Mapped[Decimal] = mapped_column(Amount)
    realized_pl: Mapped[Decimal | None] = mapped_column(Exact)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CashMovement(Base):
    """One entry of a user's cash journal: a deposit or a withdrawal."""

    __tablename__ = "cash_movements"
    __table_args__ = (
        CheckConstraint(sql_in("kind", CashKind), name="kind_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        # Newest-first pages of a user's activities.
        Index("ix_cash_movements_user_id_created_at_id", "user_id", text("created_at DESC"), text("id DESC")),
        Index("uq_cash_movements_user_id_idempotency_key", "user_id", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(Amount)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # sha256 of the canonical request, so a reused key with another body is told apart.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """A settlement message in flight: written with its trade, removed once the consumer processed it; the relay
    sends those the API did not and re-sends those that look lost."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unsent", "created_at", postgresql_where=text("sent_at IS NULL")),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    trade_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trades.id"), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    """A key's public id and the digest of its secret; the secret itself is never stored."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(sql_in("scope", Scope), name="scope_known"),
        # A user key belongs to its user; an admin key to no user.
        CheckConstraint("(scope = 'admin') = (user_id IS NULL)", name="owner_matches_scope"),
        CheckConstraint("length(secret_digest) = 64", name="digest_is_sha256"),
        Index("ix_api_keys_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[str] = mapped_column(String(8))
    secret_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StreamConnection(Base):
    """A WebSocket connection to the trade update stream: registered on connect, its account set once it
    authenticated, listening once it asked for `trade_updates`, removed on disconnect or once found gone."""

    __tablename__ = "stream_connections"
    __table_args__ = (
        CheckConstraint("user_id IS NOT NULL OR NOT listening", name="listens_once_authenticated"),
        Index("ix_stream_connections_listening", "user_id", postgresql_where=text("listening")),
        Index("ix_stream_connections_unauthenticated", "connected_at", postgresql_where=text("user_id IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # API Gateway's connection id
    endpoint: Mapped[str] = mapped_column(String(512))  # where the Management API posts to it
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    listening: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    connected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    authenticated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
