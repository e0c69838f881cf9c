"""A unit of work on in-memory repositories, an order desk and key records in dicts: each use case runs against
them in microseconds, with no database, Redis or queue. They keep the rules the real ones keep where a use case
relies on them (unique usernames in any case, keyset order, all-or-nothing transactions); the real ones are held
to the same behaviour by the integration tests."""
from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from chalicelib.domain import records
from chalicelib.domain.api_keys import KeyRecord
from chalicelib.domain.errors import NotFound
from chalicelib.domain.events import Event
from chalicelib.domain.user_ref import UserRef
from chalicelib.domain.vocabulary import Side, TradeStatus

_clock = [datetime(2026, 1, 1, tzinfo=UTC)]


def now() -> datetime:
    """A clock that always moves forward, so rows are stamped in the order they were written."""
    _clock[0] += timedelta(milliseconds=1)
    return _clock[0]


@dataclass
class Row:
    """A stored row: attributes as the tables name them."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "values":
            super().__setattr__(name, value)
        else:
            self.values[name] = value

    @property
    def available_balance(self) -> Decimal:
        return Decimal(self.balance - self.reserved_cash)


@dataclass
class Store:
    users: dict[uuid.UUID, Row] = field(default_factory=dict)
    stocks: dict[str, Row] = field(default_factory=dict)
    bars: list[Row] = field(default_factory=list)
    holdings: dict[tuple[uuid.UUID, str], Row] = field(default_factory=dict)
    trades: dict[uuid.UUID, Row] = field(default_factory=dict)
    outbox: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, Row] = field(default_factory=dict)
    cash: list[Row] = field(default_factory=list)


class Users:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, username: str, balance: Decimal) -> Row | None:
        if any(user.username.lower() == username.lower() for user in self._store.users.values()):
            return None
        user = Row({"id": uuid.uuid4(), "username": username, "balance": balance, "reserved_cash": Decimal("0"),
                    "created_at": now(), "trading_suspended": False, "trade_confirm_email": "all",
                    "ptp_no_exception_entry": False})
        self._store.users[user.id] = user
        return user

    def get_by_username(self, username: str, *, for_update: bool = False) -> Row:
        return self._one(lambda user: user.username == username, username)

    def get(self, ref: str, *, for_update: bool = False) -> Row:
        named = UserRef.parse(ref)
        return self._one(lambda user: user.id == named.id if named.id else user.username == ref, ref)

    def _one(self, matches: Any, ref: str) -> Row:
        found = next((user for user in self._store.users.values() if matches(user)), None)
        if found is None:
            raise NotFound(f"user {ref!r} not found", [{"field": "user"}])
        return found


class Stocks:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, values: dict[str, Any]) -> Row | None:
        if values["ticker"] in self._store.stocks:
            return None
        at = now()
        stock = Row({**values, "created_at": at, "price_as_of": at})
        self._store.stocks[stock.ticker] = stock
        return stock

    def get(self, ticker: str) -> Row | None:
        return self._store.stocks.get(ticker)

    get_for_update = get

    def save(self, stock: Row) -> None:
        """Rows are changed in place."""

    def page(self, after: str | None, limit: int) -> list[Row]:
        return sorted((s for s in self._store.stocks.values() if after is None or s.ticker > after),
                      key=lambda s: s.ticker)[:limit + 1]


class PriceBars:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, values: dict[str, Any]) -> Row | None:
        if any(bar.ticker == values["ticker"] and bar.timestamp == values["timestamp"] for bar in self._store.bars):
            return None
        bar = Row(dict(values))
        self._store.bars.append(bar)
        return bar

    def page(self, ticker: str, after: datetime | None, limit: int,
             between: tuple[datetime | None, datetime | None]) -> list[Row]:
        start, end = between
        bars = [bar for bar in self._store.bars if bar.ticker == ticker and (after is None or bar.timestamp < after)
                and (start is None or bar.timestamp >= start) and (end is None or bar.timestamp <= end)]
        return sorted(bars, key=lambda bar: bar.timestamp, reverse=True)[:limit + 1]


class Holdings:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get_for_update(self, user_id: uuid.UUID, ticker: str) -> Row | None:
        return self._store.holdings.get((user_id, ticker))

    def page(self, user_id: uuid.UUID, after: str | None, limit: int) -> list[Row]:
        held = [Row({**h.values, "close_price": self._store.stocks[h.ticker].close_price})
                for (owner, ticker), h in self._store.holdings.items()
                if owner == user_id and h.quantity > 0 and (after is None or ticker > after)]
        return sorted(held, key=lambda h: h.ticker)[:limit + 1]

    def market_value(self, user_id: uuid.UUID) -> Decimal:
        return sum((h.quantity * self._store.stocks[t].close_price
                    for (owner, t), h in self._store.holdings.items() if owner == user_id), Decimal("0"))

    def holders(self, ticker: str) -> list[str]:
        return [self._store.users[owner].username for (owner, t), h in self._store.holdings.items()
                if t == ticker and h.quantity > 0]

    def total_held(self, ticker: str) -> int:
        return sum(h.quantity for (_, t), h in self._store.holdings.items() if t == ticker)


class Trades:
    def __init__(self, store: Store) -> None:
        self._store = store

    def by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Row | None:
        return next((t for t in self._store.trades.values() if t.user_id == user_id and t.idempotency_key == key),
                    None)

    def get(self, user_id: uuid.UUID, trade_id: uuid.UUID) -> Row | None:
        trade = self._store.trades.get(trade_id)
        return trade if trade is not None and trade.user_id == user_id else None

    def page(self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int,
             between: tuple[datetime, datetime] | None = None, status: str | None = None) -> list[Row]:
        found = [t for t in self._store.trades.values() if t.user_id == user_id
                 and (between is None or between[0] <= t.created_at <= between[1])
                 and (status is None or t.status == status) and (after is None or (t.created_at, t.id) < after)]
        return sorted(found, key=lambda t: (t.created_at, t.id), reverse=True)[:limit + 1]


class CashMovements:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, **columns: Any) -> Row:
        movement = Row({"id": uuid.uuid4(), "created_at": now(), **columns})
        self._store.cash.append(movement)
        return movement

    def by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Row | None:
        return next((m for m in self._store.cash if m.user_id == user_id and m.idempotency_key == key), None)


class Activities:
    """The feed as the SQL view reads it: final trades (fill, rejection, cancel) and cash movements."""

    KINDS: ClassVar[dict[str, str]] = {TradeStatus.SETTLED: "fill", TradeStatus.REJECTED: "rejection",
                                      TradeStatus.CANCELED: "cancel"}

    def __init__(self, store: Store) -> None:
        self._store = store

    def page(self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int,
             between: tuple[datetime | None, datetime | None], kinds: frozenset[str] | None = None,
             oldest_first: bool = False) -> list[Row]:
        rows = [Row({"kind": self.KINDS[t.status], "id": t.id, "at": t.settled_at or t.canceled_at or t.created_at,
                     "amount": t.total, "ticker": t.ticker, "side": t.side, "volume": t.volume, "price": t.price,
                     "reason": t.reason, "trade_id": t.id, "filled_so_far": t.filled_qty,
                     "order_volume": t.volume}) for t in self._store.trades.values()
                if t.user_id == user_id and t.status != TradeStatus.PENDING]
        rows += [Row({"kind": m.kind, "id": m.id, "at": m.created_at, "amount": m.amount, "ticker": None,
                      "side": None, "volume": None, "price": None, "reason": None, "trade_id": None,
                      "filled_so_far": None, "order_volume": None})
                 for m in self._store.cash if m.user_id == user_id]
        start, end = between
        rows = [r for r in rows if (start is None or r.at >= start) and (end is None or r.at <= end)
                and (kinds is None or r.kind in kinds)
                and (after is None or ((r.at, r.id) > after if oldest_first else (r.at, r.id) < after))]
        return sorted(rows, key=lambda r: (r.at, r.id), reverse=not oldest_first)[:limit + 1]


class ApiKeys:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, key_id: str, user_id: uuid.UUID | None, scope: str, secret_digest: str) -> Row:
        key = Row({"id": key_id, "user_id": user_id, "scope": scope, "secret_digest": secret_digest,
                   "created_at": now(), "revoked_at": None, "last_used_at": None})
        self._store.keys[key_id] = key
        return key

    def get(self, key_id: str) -> tuple[Row, str | None] | None:
        key = self._store.keys.get(key_id)
        if key is None:
            return None
        return key, None if key.user_id is None else self._store.users[key.user_id].username

    def active_page(self, user_id: uuid.UUID, after: tuple[datetime, str] | None, limit: int) -> list[Row]:
        keys = [k for k in self._store.keys.values() if k.user_id == user_id and k.revoked_at is None
                and (after is None or (k.created_at, k.id) > after)]
        return sorted(keys, key=lambda k: (k.created_at, k.id))[:limit + 1]

    def count_active(self, user_id: uuid.UUID) -> int:
        return sum(1 for k in self._store.keys.values() if k.user_id == user_id and k.revoked_at is None)

    def of_user(self, user_id: uuid.UUID, key_id: str) -> Row | None:
        key = self._store.keys.get(key_id)
        return key if key is not None and key.user_id == user_id else None

    def revoke(self, key: Row) -> None:
        key.revoked_at = now()

    def record_use(self, last_used: dict[str, datetime]) -> None:
        for key_id, moment in last_used.items():
            key = self._store.keys[key_id]
            key.last_used_at = max(filter(None, (key.last_used_at, moment)))


class FakeUnitOfWork:
    """What the services see of a unit of work: repositories, `record`, `commit`, `committed`. A block left
    without a commit leaves the store as it was; committed events are kept in `published`, in order."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self.published: list[Event] = []
        self._events: list[Event] = []
        self._before: Store | None = None

    def __enter__(self) -> FakeUnitOfWork:
        self._before = copy.deepcopy(self.store)
        self._events = []
        self.users, self.stocks, self.bars = Users(self.store), Stocks(self.store), PriceBars(self.store)
        self.holdings, self.trades, self.keys = Holdings(self.store), Trades(self.store), ApiKeys(self.store)
        self.cash, self.activities = CashMovements(self.store), Activities(self.store)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._before is not None:  # not committed: as it was
            self.store.__dict__.update(self._before.__dict__)
        self._before = None

    def record(self, event: Event) -> None:
        self._events.append(event)

    def commit(self) -> None:
        self._before = copy.deepcopy(self.store)
        events, self._events = self._events, []
        self.committed(*events)

    def committed(self, *events: Event) -> None:
        self.published.extend(events)


class FakeOrderDesk:
    """The order desk's contract over the same store: places an order whole when the user, the stock and what is
    available allow it, else writes nothing."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def place(self, ticket: records.Ticket) -> records.Trade | None:
        named = UserRef.parse(ticket.user_ref)
        user = next((u for u in self._store.users.values()
                     if (u.id == named.id if named.id else u.username == ticket.user_ref)), None)
        stock = self._store.stocks.get(ticket.ticker)
        if user is None or stock is None or (ticket.idempotency_key is not None and any(
                t.user_id == user.id and t.idempotency_key == ticket.idempotency_key
                for t in self._store.trades.values())):
            return None
        cost = (ticket.limit_price or stock.close_price) * ticket.volume
        holding = self._store.holdings.get((user.id, stock.ticker))
        if ticket.side == Side.BUY:
            if cost > user.available_balance or ticket.volume > stock.volume:
                return None
            user.reserved_cash += cost
            cash, shares = cost, 0
        else:
            if holding is None or ticket.volume > holding.quantity - holding.reserved_quantity:
                return None
            holding.reserved_quantity += ticket.volume
            cash, shares = Decimal("0"), ticket.volume
        trade = Row({"id": ticket.trade_id, "user_id": user.id, "username": user.username, "ticker": stock.ticker,
                     "side": ticket.side, "volume": ticket.volume, "reserved_cash": cash, "reserved_quantity": shares,
                     "status": TradeStatus.PENDING, "created_at": now(), "limit_price": ticket.limit_price,
                     "time_in_force": ticket.time_in_force, "client_order_id": ticket.client_order_id,
                     "idempotency_key": ticket.idempotency_key, "request_fingerprint": ticket.fingerprint,
                     "price": None, "total": None, "reason": None, "settled_at": None, "canceled_at": None,
                     "realized_pl": None, "order_type": ticket.order_type, "stop_price": ticket.stop_price,
                     "filled_qty": 0, "filled_avg_price": None, "rejected_at": None, "expired_at": None,
                     "replaced_at": None, "triggered_at": None, "expires_at": ticket.expires_at,
                     "replaces": ticket.replaces, "replaced_by": None})
        self._store.trades[trade.id] = trade
        self._store.outbox[trade.id] = {"trade_id": str(trade.id)}
        return records.Trade.of(trade)


class FakeKeyRecords:
    """Key records in a dict: what the authorizer's cache holds, never replaced by an older state."""

    def __init__(self) -> None:
        self.held: dict[str, KeyRecord] = {}

    def get(self, key_id: str) -> tuple[KeyRecord | None, str]:
        return self.held.get(key_id), ""

    def offer(self, record: KeyRecord, *, refused: str = "") -> None:
        held = self.held.get(record.key_id)
        if held is None or (record.revoked and not held.revoked):
            self.held[record.key_id] = record

    def revoke(self, record: KeyRecord) -> None:
        self.held[record.key_id] = record


class FakeCache:
    """The one thing a use case reads from the cache itself: when each key was last used."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}

        class Keys:
            @staticmethod
            def keys_last_used() -> str:
                return "keys_last_used"

        self.keys = Keys()

    def fields(self, key: str, *names: str) -> list[str | None]:
        return [self.hashes.get(key, {}).get(name) for name in names]
