"""Repositories: every statement the services need, one class per table, each on the unit of work's session.
Services speak to these and to the domain; none of them writes SQL."""
from __future__ import annotations

import operator
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, null, or_, select, text, tuple_, union_all, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, aliased

from chalicelib.adapters import batch_statements as batch
from chalicelib.adapters.tables import (
    ApiKey,
    CashMovement,
    Fill,
    Holding,
    OutboxMessage,
    PriceBar,
    Stock,
    StreamConnection,
    Trade,
    User,
)
from chalicelib.domain.errors import NotFound
from chalicelib.domain.user_ref import UserRef
from chalicelib.domain.vocabulary import ActivityKind, Side, TimeInForce, TradeStatus

# Rows are locked FOR NO KEY UPDATE (key_share=True): what is changed is never a key, and the weaker lock leaves
# the KEY SHARE locks that foreign-key checks take free. A trade's insert checks its stock and user that way: with
# FOR UPDATE, placing an order would wait for every settlement batch holding its stock.


class Users:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, username: str, balance: Decimal) -> User | None:
        """The new user, or None if the username is taken (in any case)."""
        return self._session.execute(
            insert(User).values(username=username, balance=balance, starting_balance=balance)
            .on_conflict_do_nothing(index_elements=[func.lower(User.username)]).returning(User)
        ).scalar_one_or_none()

    def get_by_username(self, username: str, *, for_update: bool = False) -> User:
        return self._one(select(User).where(User.username == username), username, for_update)

    def get(self, ref: str, *, for_update: bool = False) -> User:
        """A user named by id or by username (chalicelib/domain/user_ref.py)."""
        named = UserRef.parse(ref)
        query = select(User).where(User.id == named.id if named.id is not None else User.username == ref)
        return self._one(query, ref, for_update)

    def lock(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """Balances of these users, locked in id order (the global lock order: trades, stocks, users, holdings)."""
        return {user.id: user for user in self._session.execute(
            select(User.id, User.username, User.balance, User.reserved_cash)
            .where(User.id.in_(sorted(user_ids))).order_by(User.id).with_for_update(key_share=True))}

    def _one(self, query: Any, ref: str, for_update: bool) -> User:
        if for_update:
            query = query.with_for_update(key_share=True)
        user: User | None = self._session.execute(query).scalar_one_or_none()
        if user is None:
            raise NotFound(f"user {ref!r} not found", [{"field": "user"}])
        return user


class Stocks:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, values: dict[str, Any]) -> Stock | None:
        """The new stock, or None if the ticker exists (a stock is created once; bars move its prices)."""
        return self._session.execute(
            insert(Stock).values(**values).on_conflict_do_nothing(index_elements=[Stock.ticker]).returning(Stock)
        ).scalar_one_or_none()

    def get(self, ticker: str) -> Stock | None:
        return self._session.get(Stock, ticker)

    def by_asset_id(self, asset_id: uuid.UUID) -> Stock | None:
        return self._session.scalar(select(Stock).where(Stock.asset_id == asset_id))

    def page(self, after: str | None, limit: int) -> list[Stock]:
        return list(self._session.scalars(_by_ticker(select(Stock), Stock.ticker, after, limit)))

    def save(self, stock: Stock) -> None:
        """Write what changed on `stock` now, so a constraint it breaks fails here, inside the unit of work."""
        self._session.flush()

    def get_for_update(self, ticker: str) -> Stock | None:
        """The stock, its row locked as settlement locks it: a settlement of this ticker waits, or is waited for."""
        return self._session.scalar(select(Stock).where(Stock.ticker == ticker).with_for_update(key_share=True))

    def lock(self, tickers: Iterable[str]) -> dict[str, Any]:
        return {stock.ticker: stock for stock in self._session.execute(
            select(Stock.ticker, Stock.close_price, Stock.volume)
            .where(Stock.ticker.in_(sorted(tickers))).order_by(Stock.ticker).with_for_update(key_share=True))}

    def mark_evaluated(self, ticker: str, as_of: datetime, at: datetime) -> None:
        """The resting orders of `ticker` were evaluated against its bar of `as_of`, at `at` (never moved back)."""
        self._session.execute(update(Stock).where(
            Stock.ticker == ticker,
            or_(Stock.orders_evaluated_as_of.is_(None), Stock.orders_evaluated_as_of <= as_of))
            .values(orders_evaluated_as_of=as_of, orders_evaluated_at=at))

    def with_unevaluated_orders(self, session_open: datetime) -> list[str]:
        """Tickers with open orders not yet evaluated against their latest bar, or not since `session_open`."""
        stale = or_(Stock.orders_evaluated_as_of.is_(None), Stock.orders_evaluated_as_of < Stock.price_as_of,
                    Stock.orders_evaluated_at.is_(None), Stock.orders_evaluated_at < session_open)
        has_open = select(Trade.id).where(Trade.ticker == Stock.ticker, Trade.status == TradeStatus.PENDING).exists()
        return list(self._session.scalars(select(Stock.ticker).where(stale, has_open).order_by(Stock.ticker)))


class PriceBars:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, values: dict[str, Any]) -> PriceBar | None:
        """The new bar, or None if the ticker already has a bar at this timestamp."""
        return self._session.execute(
            insert(PriceBar).values(**values)
            .on_conflict_do_nothing(index_elements=[PriceBar.ticker, PriceBar.timestamp]).returning(PriceBar)
        ).scalar_one_or_none()

    def page(self, ticker: str, after: datetime | None, limit: int,
             between: tuple[datetime | None, datetime | None]) -> list[PriceBar]:
        """A ticker's bars newest first, after the timestamp of the last one shown, within `between` (either
        bound may be open); the primary key's index serves it read backwards."""
        query = select(PriceBar).where(PriceBar.ticker == ticker)
        start, end = between
        if start is not None:
            query = query.where(PriceBar.timestamp >= start)
        if end is not None:
            query = query.where(PriceBar.timestamp <= end)
        if after is not None:
            query = query.where(PriceBar.timestamp < after)
        return list(self._session.scalars(query.order_by(PriceBar.timestamp.desc()).limit(limit + 1)))


# A bucket's start, in UTC: whole minutes, hours, days and Monday weeks from one origin; months from January.
_BUCKETS = {
    "interval": "date_bin(CAST(:step AS interval), b.timestamp, TIMESTAMPTZ '2000-01-03 00:00:00+00')",
    "month": "make_timestamptz(CAST(extract(year FROM b.timestamp AT TIME ZONE 'UTC') AS int), "
             "(CAST(extract(month FROM b.timestamp AT TIME ZONE 'UTC') AS int) - 1) / :amount * :amount + 1, "
             "1, 0, 0, 0, 'UTC')",
}


class PriceBuckets:
    """Stored bars aggregated into buckets of a timeframe, by the database: the first bar's open, the last one's
    close, the highest high, the lowest low, the summed volume, how many bars (`trades`), and the volume-weighted
    average of the closes (`vwap`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def page(self, tickers: Sequence[str], amount: int, unit: str, between: tuple[datetime | None, datetime | None],
             after: tuple[str, datetime] | None, limit: int, *, newest_first: bool = False) -> list[Any]:
        """Buckets of each ticker in turn (by ticker), oldest first or newest, after the (ticker, start) of the
        last one shown; one more than `limit`, to tell whether more remain."""
        bucket = _BUCKETS["month" if unit == "month" else "interval"]
        conditions, values = ["b.ticker = ANY(:tickers)"], {"tickers": list(tickers), "amount": amount,
                                                           "step": f"{amount} {unit}s", "limit": limit + 1}
        start, end = between
        if start is not None:
            conditions.append("b.timestamp >= :start")
            values["start"] = start
        if end is not None:
            conditions.append("b.timestamp <= :end")
            values["end"] = end
        after_these = ""
        if after is not None:
            later = "<" if newest_first else ">"
            after_these = f"WHERE g.ticker > :after_ticker OR (g.ticker = :after_ticker AND g.start {later} :after_t)"
            values.update(after_ticker=after[0], after_t=after[1])
        direction = "DESC" if newest_first else "ASC"
        return list(self._session.execute(text(f"""
            SELECT * FROM (
                SELECT b.ticker, {bucket} AS start,
                       (array_agg(b.open_price ORDER BY b.timestamp))[1] AS open,
                       max(b.high) AS high, min(b.low) AS low,
                       (array_agg(b.close_price ORDER BY b.timestamp DESC))[1] AS close,
                       CAST(sum(b.volume) AS bigint) AS volume, count(*) AS trades,
                       sum(b.close_price * b.volume) / NULLIF(sum(b.volume), 0) AS vwap
                FROM price_bars b WHERE {" AND ".join(conditions)}
                GROUP BY b.ticker, start) g
            {after_these}
            ORDER BY g.ticker, g.start {direction} LIMIT :limit"""), values))

    def latest(self, tickers: Sequence[str]) -> list[Any]:
        """Each ticker's latest bar, as a bucket of one."""
        return list(self._session.execute(text("""
            SELECT DISTINCT ON (b.ticker) b.ticker, b.timestamp AS start, b.open_price AS open, b.high, b.low,
                   b.close_price AS close, b.volume, 1 AS trades, b.close_price AS vwap
            FROM price_bars b WHERE b.ticker = ANY(:tickers) ORDER BY b.ticker, b.timestamp DESC"""),
            {"tickers": list(tickers)}))


class Holdings:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get_for_update(self, user_id: uuid.UUID, ticker: str) -> Holding | None:
        return self._session.scalar(
            select(Holding).where(Holding.user_id == user_id, Holding.ticker == ticker)
            .with_for_update(key_share=True))

    def page(self, user_id: uuid.UUID, after: str | None, limit: int) -> list[Any]:
        """Positions with shares, by ticker, each with its stock's current close price (`close_price`)."""
        return list(self._session.execute(_by_ticker(self._positions(user_id), Holding.ticker, after, limit)))

    def position(self, user_id: uuid.UUID, ticker: str) -> Any | None:
        """The position in `ticker` as `page` reads it, or None when no share is held."""
        return self._session.execute(self._positions(user_id).where(Holding.ticker == ticker)).first()

    @staticmethod
    def _positions(user_id: uuid.UUID) -> Any:
        return (select(Holding.ticker, Holding.quantity, Holding.reserved_quantity, Holding.average_entry_price,
                       Stock.close_price)
                .join(Stock, Stock.ticker == Holding.ticker)
                .where(Holding.user_id == user_id, Holding.quantity > 0))

    def market_value(self, user_id: uuid.UUID) -> Decimal:
        """What all the user's shares are worth at their stocks' current close prices."""
        return Decimal(self._session.scalar(
            select(func.coalesce(func.sum(Holding.quantity * Stock.close_price), 0))
            .join(Stock, Stock.ticker == Holding.ticker).where(Holding.user_id == user_id)) or 0)

    def holders(self, ticker: str) -> list[str]:
        """The usernames of everyone holding shares of `ticker`."""
        return list(self._session.scalars(select(User.username).join(Holding, Holding.user_id == User.id)
                                          .where(Holding.ticker == ticker, Holding.quantity > 0)))

    def total_held(self, ticker: str) -> int:
        """Shares of `ticker` held by all users. Exact only while the stock's row is locked: settlement changes
        what is held only under that lock."""
        return int(self._session.scalar(select(func.coalesce(func.sum(Holding.quantity), 0))
                                        .where(Holding.ticker == ticker)) or 0)

    def lock_or_create(self, pairs: Iterable[tuple[uuid.UUID, str]]) -> list[Any]:
        """The (user, ticker) holdings, locked in that sorted order; missing ones are created empty."""
        ordered = sorted(set(pairs))
        return list(self._session.execute(batch.LOCK_OR_CREATE_HOLDINGS, batch.params(
            "pairs", user_id=[user for user, _ in ordered], ticker=[ticker for _, ticker in ordered])))


class Trades:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, **columns: Any) -> Trade:
        trade = Trade(**columns)
        self._session.add(trade)
        self._session.flush()  # the row exists (and its timestamp is read back) before the outbox row names it
        return trade

    def by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Trade | None:
        return self._session.scalar(select(Trade).where(Trade.user_id == user_id, Trade.idempotency_key == key))

    def get(self, user_id: uuid.UUID, trade_id: uuid.UUID) -> Trade | None:
        return self._session.scalar(select(Trade).where(Trade.id == trade_id, Trade.user_id == user_id))

    def by_client_order_id(self, user_id: uuid.UUID, client_order_id: str) -> Trade | None:
        """The user's latest order with this client order id."""
        return self._session.scalar(select(Trade).where(Trade.user_id == user_id,
                                                        Trade.client_order_id == client_order_id)
                                    .order_by(Trade.created_at.desc()).limit(1))

    def one(self, trade_id: uuid.UUID) -> Trade:
        """A trade known to exist, read as it is now (a batch statement may have changed it in this session)."""
        return self._session.scalars(select(Trade).where(Trade.id == trade_id)
                                     .execution_options(populate_existing=True)).one()

    def page(self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int,
             between: tuple[datetime, datetime] | None = None, statuses: Sequence[str] | None = None, *,
             tickers: Sequence[str] | None = None, side: str | None = None, oldest_first: bool = False) -> list[Trade]:
        """A user's trades newest first (or oldest), after the (timestamp, id) of the last one shown, within
        `between`, in one of `statuses`, of `tickers` and `side` where given."""
        query = select(Trade).where(Trade.user_id == user_id)
        if between is not None:
            query = query.where(Trade.created_at.between(*between))
        if statuses is not None:
            query = query.where(Trade.status.in_(statuses))
        if tickers is not None:
            query = query.where(Trade.ticker.in_(tickers))
        if side is not None:
            query = query.where(Trade.side == side)
        key = tuple_(Trade.created_at, Trade.id)
        if after is not None:
            # A row comparison: the (user_id, created_at DESC, id DESC) index serves it as a range.
            query = query.where(key > tuple_(*after) if oldest_first else key < tuple_(*after))
        order = (Trade.created_at, Trade.id) if oldest_first else (Trade.created_at.desc(), Trade.id.desc())
        return list(self._session.scalars(query.order_by(*order).limit(limit + 1)))

    def lock(self, trade_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """The trades, locked in id order: first in the global lock order."""
        return {trade.id: trade for trade in self._session.execute(
            select(Trade.id, Trade.user_id, Trade.ticker, Trade.side, Trade.volume, Trade.reserved_cash,
                   Trade.reserved_quantity, Trade.limit_price, Trade.stop_price, Trade.order_type,
                   Trade.time_in_force, Trade.filled_qty, Trade.total, Trade.price, Trade.realized_pl,
                   Trade.triggered_at, Trade.expires_at, Trade.status, Trade.reason, Trade.created_at,
                   Trade.client_order_id, Trade.replaces)
            .where(Trade.id.in_(set(trade_ids))).order_by(Trade.id).with_for_update())}

    def open_ids(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        return list(self._session.scalars(select(Trade.id).where(Trade.user_id == user_id,
                                                                 Trade.status == TradeStatus.PENDING)))

    def due_to_expire(self, now: datetime, limit: int) -> list[uuid.UUID]:
        """Open day orders whose session closed by `now`, the oldest close first."""
        return list(self._session.scalars(
            select(Trade.id).where(Trade.status == TradeStatus.PENDING, Trade.expires_at.is_not(None),
                                   Trade.expires_at <= now).order_by(Trade.expires_at, Trade.id).limit(limit)))

    def crossed(self, ticker: str, close: Decimal) -> list[uuid.UUID]:
        """The open orders of `ticker` a close of `close` may fill, in the order they are filled: sells first
        (they add to the volume on offer), then buys; on each side market and triggered orders first, then by
        limit price, the best first (highest buy, lowest sell), then oldest first. Orders that never rest
        (ioc, fok, the classic order), left open while the market was closed, are evaluated whatever the price."""
        buy, sell = Trade.side == Side.BUY, Trade.side == Side.SELL
        # A stop the close reached triggers (whether or not its limit is met); a live order fills if its limit is.
        waiting_stop = and_(Trade.stop_price.is_not(None), Trade.triggered_at.is_(None))
        stop_reached = and_(waiting_stop, or_(and_(buy, Trade.stop_price <= close),
                                              and_(sell, Trade.stop_price >= close)))
        limit_met = and_(~waiting_stop, or_(Trade.limit_price.is_(None), and_(buy, Trade.limit_price >= close),
                                            and_(sell, Trade.limit_price <= close)))
        never_rests = or_(Trade.time_in_force.is_(None), Trade.time_in_force.in_((TimeInForce.IOC, TimeInForce.FOK)))
        return list(self._session.scalars(
            select(Trade.id)
            .where(Trade.ticker == ticker, Trade.status == TradeStatus.PENDING,
                   or_(stop_reached, limit_met, never_rests))
            .order_by(Trade.side.desc(), Trade.limit_price.is_not(None),
                      case((buy, Trade.limit_price)).desc(), case((sell, Trade.limit_price)).asc(),
                      Trade.created_at, Trade.id)))

    def record_settlements(self, decisions: dict[uuid.UUID, dict[str, Any]],
                           balances: dict[uuid.UUID, tuple[Decimal, Decimal]],
                           holdings: dict[tuple[uuid.UUID, str], tuple[int, int, Decimal]],
                           volumes: dict[str, int], fills: list[dict[str, Any]]) -> None:
        """A batch's outcome in one round trip, whatever its size: each changed trade as it was left, its fills,
        and the balances, holdings and stock volumes the batch left (only trades still open are written)."""
        self._session.execute(batch.WRITE_SETTLEMENTS, {
            **batch.params("new_users", id=list(balances),
                           balance=[balance for balance, _ in balances.values()],
                           reserved_cash=[reserved for _, reserved in balances.values()]),
            **batch.params("new_holdings", user_id=[user for user, _ in holdings],
                           ticker=[ticker for _, ticker in holdings],
                           quantity=[quantity for quantity, _, _ in holdings.values()],
                           reserved_quantity=[reserved for _, reserved, _ in holdings.values()],
                           average_entry_price=[average for _, _, average in holdings.values()]),
            **batch.params("new_stocks", ticker=list(volumes), volume=list(volumes.values())),
            **batch.params("new_trades", id=list(decisions), **{
                column: [decision[column] for decision in decisions.values()] for column in batch.TRADE_COLUMNS}),
            **batch.params("new_fills", **{column: [fill[column] for fill in fills] for column in batch.FILL_COLUMNS}),
        })

    def fills(self, user_id: uuid.UUID, trade_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID] | None,
              limit: int) -> list[Fill]:
        """A user's fills (of one trade, if given), newest first, after the (time, id) of the last one shown."""
        query = select(Fill).where(Fill.user_id == user_id)
        if trade_id is not None:
            query = query.where(Fill.trade_id == trade_id)
        if after is not None:
            query = query.where(tuple_(Fill.created_at, Fill.id) < tuple_(*after))
        return list(self._session.scalars(query.order_by(Fill.created_at.desc(), Fill.id.desc()).limit(limit + 1)))


class CashMovements:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, **columns: Any) -> CashMovement:
        movement = CashMovement(**columns)
        self._session.add(movement)
        self._session.flush()  # its id and timestamp are read back for the answer
        return movement

    def by_idempotency_key(self, user_id: uuid.UUID, key: str) -> CashMovement | None:
        return self._session.scalar(select(CashMovement).where(CashMovement.user_id == user_id,
                                                               CashMovement.idempotency_key == key))


class Activities:
    """One user's fills, rejections, cancels, deposits and withdrawals as one newest-first list."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def page(self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int,
             between: tuple[datetime | None, datetime | None], kinds: frozenset[ActivityKind] | None = None,
             oldest_first: bool = False) -> list[Any]:
        """Rows of (kind, id, at, amount, ticker, side, volume, price, reason, trade_id, filled_so_far,
        order_volume), newest first (or oldest), after the (at, id) of the last one shown, within `between` (either
        bound may be open), of `kinds` (None: every kind). Each fill is an entry, with what its order had filled
        once it was made; an order that ended unfilled in part adds an entry for what it left unfilled."""
        at = func.coalesce(Trade.rejected_at, Trade.canceled_at, Trade.expired_at)
        kind = case((Trade.status == TradeStatus.REJECTED, ActivityKind.REJECTION),
                    (Trade.status == TradeStatus.EXPIRED, ActivityKind.EXPIRY), else_=ActivityKind.CANCEL)
        earlier = aliased(Fill)
        filled_so_far = (select(func.sum(earlier.quantity))
                         .where(earlier.trade_id == Fill.trade_id,
                                tuple_(earlier.created_at, earlier.id) <= tuple_(Fill.created_at, Fill.id))
                         .scalar_subquery())
        order_volume = select(Trade.volume).where(Trade.id == Fill.trade_id).scalar_subquery()
        fills = (select(literal(ActivityKind.FILL.value).label("kind"), Fill.id.label("id"),
                        Fill.created_at.label("at"), Fill.amount.label("amount"), Fill.ticker.label("ticker"),
                        Fill.side.label("side"), Fill.quantity.label("volume"), Fill.price.label("price"),
                        null().label("reason"), Fill.trade_id.label("trade_id"),
                        filled_so_far.label("filled_so_far"), order_volume.label("order_volume"))
                 .where(Fill.user_id == user_id))
        ended = {TradeStatus.REJECTED: ActivityKind.REJECTION, TradeStatus.CANCELED: ActivityKind.CANCEL,
                 TradeStatus.EXPIRED: ActivityKind.EXPIRY}
        trades = (select(kind.label("kind"), Trade.id.label("id"), at.label("at"), null().label("amount"),
                         Trade.ticker.label("ticker"), Trade.side.label("side"),
                         (Trade.volume - Trade.filled_qty).label("volume"), null().label("price"),
                         Trade.reason.label("reason"), Trade.id.label("trade_id"),
                         Trade.filled_qty.label("filled_so_far"), Trade.volume.label("order_volume"))
                  .where(Trade.user_id == user_id,
                         Trade.status.in_([status for status, entry in ended.items()
                                           if kinds is None or entry in kinds])))
        cash = (select(CashMovement.kind.label("kind"), CashMovement.id.label("id"),
                       CashMovement.created_at.label("at"), CashMovement.amount.label("amount"),
                       null().label("ticker"), null().label("side"),
                       null().label("volume"), null().label("price"), null().label("reason"),
                       null().label("trade_id"), null().label("filled_so_far"), null().label("order_volume"))
                .where(CashMovement.user_id == user_id))
        if kinds is not None:
            cash = cash.where(CashMovement.kind.in_([entry.value for entry in kinds]))
        start, end = between
        if start is not None:
            fills, trades = fills.where(Fill.created_at >= start), trades.where(at >= start)
            cash = cash.where(CashMovement.created_at >= start)
        if end is not None:
            fills, trades = fills.where(Fill.created_at <= end), trades.where(at <= end)
            cash = cash.where(CashMovement.created_at <= end)
        if after is not None:
            beyond = operator.gt if oldest_first else operator.lt
            fills = fills.where(beyond(tuple_(Fill.created_at, Fill.id), tuple_(*after)))
            trades = trades.where(beyond(tuple_(at, Trade.id), tuple_(*after)))
            cash = cash.where(beyond(tuple_(CashMovement.created_at, CashMovement.id), tuple_(*after)))
        parts = [part for part, wanted in ((fills, ActivityKind.FILL in kinds if kinds else True),
                                           (trades, not kinds or bool(kinds & set(ended.values()))),
                                           (cash, not kinds or bool(kinds & {ActivityKind.DEPOSIT,
                                                                             ActivityKind.WITHDRAWAL})))
                 if wanted]
        if not parts:
            return []
        feed = union_all(*parts).subquery()
        order = (feed.c.at.asc(), feed.c.id.asc()) if oldest_first else (feed.c.at.desc(), feed.c.id.desc())
        return list(self._session.execute(select(feed).order_by(*order).limit(limit + 1)))


# A user's equity at the end of each of `count` windows of `step` from `first`: cash (the starting balance, the
# journal and the fills up to then) plus each position then at its stock's latest bar then. `flows` is what
# deposits and withdrawals had added by then, so that P/L leaves them out.
_EQUITY = text("""
    WITH points AS (
        SELECT CAST(:first AS timestamptz) + n * CAST(:step AS interval) AS start_at,
               LEAST(CAST(:first AS timestamptz) + (n + 1) * CAST(:step AS interval), CAST(:now AS timestamptz))
                   AS end_at
        FROM generate_series(0, CAST(:count AS integer) - 1) AS n
    )
    SELECT p.start_at,
           COALESCE((SELECT sum(CASE WHEN c.kind = 'deposit' THEN c.amount ELSE -c.amount END) FROM cash_movements c
                     WHERE c.user_id = :user_id AND c.created_at < p.end_at), 0) AS flows,
           COALESCE((SELECT sum(CASE WHEN f.side = 'sell' THEN f.amount ELSE -f.amount END) FROM fills f
                     WHERE f.user_id = :user_id AND f.created_at < p.end_at), 0) AS traded,
           COALESCE((SELECT sum(h.quantity * COALESCE(b.close_price, 0))
                     FROM (SELECT f.ticker, sum(CASE WHEN f.side = 'buy' THEN f.quantity ELSE -f.quantity END)
                                                AS quantity
                           FROM fills f WHERE f.user_id = :user_id AND f.created_at < p.end_at
                           GROUP BY f.ticker) h
                     LEFT JOIN LATERAL (SELECT pb.close_price FROM price_bars pb
                                        WHERE pb.ticker = h.ticker AND pb.timestamp < p.end_at
                                        ORDER BY pb.timestamp DESC LIMIT 1) b ON true
                     WHERE h.quantity <> 0), 0) AS held
    FROM points p ORDER BY p.start_at
""")


class Equity:
    """A user's equity over time, from the journal, the fills and the bars."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def history(self, user_id: uuid.UUID, first: datetime, step: timedelta, count: int,
                now: datetime) -> list[Any]:
        """Rows of (start_at, flows, traded, held), one per window: equity is the starting balance plus flows,
        traded and held."""
        return list(self._session.execute(_EQUITY, {"user_id": user_id, "first": first, "step": step,
                                                    "count": count, "now": now}))


class Outbox:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, trade_id: uuid.UUID, payload: dict[str, Any]) -> None:
        self._session.add(OutboxMessage(trade_id=trade_id, payload=payload))

    def due(self, min_age_s: float, resend_after_s: float, max_attempts: int, limit: int) -> dict[uuid.UUID, Any]:
        """Messages to send, locked and skipped by concurrent relays: unsent ones older than `min_age_s` (the API
        missed them) and sent ones not yet processed `resend_after_s` after the last send (lost)."""
        now = datetime.now(UTC)
        rows = self._session.execute(
            select(OutboxMessage.trade_id, OutboxMessage.payload)
            .where(
                OutboxMessage.attempts < max_attempts,
                or_(
                    and_(OutboxMessage.sent_at.is_(None),
                         OutboxMessage.created_at <= now - timedelta(seconds=min_age_s)),
                    OutboxMessage.sent_at <= now - timedelta(seconds=resend_after_s),
                ),
            )
            .order_by(OutboxMessage.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return {row.trade_id: row.payload for row in rows}

    def mark_sent(self, trade_ids: list[uuid.UUID]) -> None:
        self._session.execute(
            update(OutboxMessage).where(OutboxMessage.trade_id.in_(trade_ids))
            .values(sent_at=datetime.now(UTC), attempts=OutboxMessage.attempts + 1, last_error=None))

    def mark_failed(self, trade_id: uuid.UUID, error: str) -> None:
        self._session.execute(
            update(OutboxMessage).where(OutboxMessage.trade_id == trade_id)
            .values(attempts=OutboxMessage.attempts + 1, last_error=error[:1000]))

    def remove(self, trade_ids: list[uuid.UUID]) -> None:
        """Their messages were processed (or need not be): no longer in flight."""
        self._session.execute(delete(OutboxMessage).where(OutboxMessage.trade_id.in_(trade_ids)))


class ApiKeys:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key_id: str, user_id: uuid.UUID | None, scope: str, secret_digest: str) -> ApiKey:
        key = ApiKey(id=key_id, user_id=user_id, scope=scope, secret_digest=secret_digest)
        self._session.add(key)
        self._session.flush()  # its created_at is read back for the answer
        return key

    def get(self, key_id: str) -> tuple[ApiKey, str | None] | None:
        """The key and its user's name (None for an admin key)."""
        row = self._session.execute(
            select(ApiKey, User.username).outerjoin(User, User.id == ApiKey.user_id).where(ApiKey.id == key_id)
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    def active_page(self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID | str] | None,
                    limit: int) -> list[ApiKey]:
        """The user's active keys, oldest first, after the (created, id) of the last one shown."""
        query = select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        if after is not None:
            query = query.where(tuple_(ApiKey.created_at, ApiKey.id) > tuple_(after[0], str(after[1])))
        return list(self._session.scalars(query.order_by(ApiKey.created_at, ApiKey.id).limit(limit + 1)))

    def count_active(self, user_id: uuid.UUID) -> int:
        return int(self._session.scalar(select(func.count()).select_from(ApiKey)
                                        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))) or 0)

    def of_user(self, user_id: uuid.UUID, key_id: str) -> ApiKey | None:
        return self._session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))

    def revoke(self, key: ApiKey) -> None:
        key.revoked_at = datetime.now(UTC)
        self._session.flush()

    def record_use(self, last_used: dict[str, datetime]) -> None:
        """Keep the newest time each key was used (as the rate limiter saw it)."""
        for key_id, moment in last_used.items():
            self._session.execute(
                update(ApiKey).where(ApiKey.id == key_id,
                                     or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < moment))
                .values(last_used_at=moment))


def _by_ticker(query: Any, ticker: Any, after: str | None, limit: int) -> Any:
    """Ticker keyset paging: the rows after `after`, by ticker, one more than a page to tell if more remain."""
    if after is not None:
        query = query.where(ticker > after)
    return query.order_by(ticker).limit(limit + 1)


class StreamConnections:
    """The trade update stream's connection registry."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, connection_id: str, endpoint: str) -> None:
        """Register a new connection; one API Gateway reuses an id for is registered afresh."""
        self._session.execute(insert(StreamConnection).values(id=connection_id, endpoint=endpoint)
                              .on_conflict_do_update(index_elements=[StreamConnection.id],
                                                     set_={"endpoint": endpoint, "user_id": None, "listening": False,
                                                           "connected_at": func.now(), "authenticated_at": None}))

    def authenticate(self, connection_id: str, user_id: uuid.UUID) -> bool:
        """Give the connection its account; False if it is not registered (it disconnected)."""
        done = self._session.execute(update(StreamConnection).where(StreamConnection.id == connection_id)
                                     .values(user_id=user_id, authenticated_at=func.now())
                                     .returning(StreamConnection.id))
        return done.first() is not None

    def listen(self, connection_id: str, listening: bool) -> bool:
        """Start (or stop) sending it updates; False unless it is registered and authenticated."""
        done = self._session.execute(update(StreamConnection)
                                     .where(StreamConnection.id == connection_id,
                                            StreamConnection.user_id.is_not(None))
                                     .values(listening=listening).returning(StreamConnection.id))
        return done.first() is not None

    def is_authenticated(self, connection_id: str) -> bool:
        return self._session.scalar(select(StreamConnection.user_id.is_not(None))
                                    .where(StreamConnection.id == connection_id)) or False

    def listening(self, user_ids: Iterable[uuid.UUID]) -> list[Any]:
        """(id, endpoint, user_id) of every listening connection of these accounts."""
        return list(self._session.execute(
            select(StreamConnection.id, StreamConnection.endpoint, StreamConnection.user_id)
            .where(StreamConnection.user_id.in_(set(user_ids)), StreamConnection.listening)))

    def unauthenticated_since(self, before: datetime, limit: int) -> list[Any]:
        """(id, endpoint) of connections that connected before `before` and never authenticated."""
        return list(self._session.execute(
            select(StreamConnection.id, StreamConnection.endpoint)
            .where(StreamConnection.user_id.is_(None), StreamConnection.connected_at < before)
            .order_by(StreamConnection.connected_at).limit(limit)))

    def remove(self, connection_ids: Iterable[str]) -> None:
        self._session.execute(delete(StreamConnection).where(StreamConnection.id.in_(set(connection_ids))))
