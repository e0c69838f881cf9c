"""The resting-order book. Three figures, each next to a floor from the same run:

- a bar that makes 10,000 resting limit buys fillable: from recording the bar to the last one filled (the bar's
  book message handed to the consumer as Lambda would), as orders filled per second, next to the settlement
  engine's rate for market orders on the same database (batches of 10, as `bench/settlement.py` feeds it);
- placing orders (the order desk's one statement, in this process) with 100,000 resting orders in the book,
  next to the same placements with none;
- recording a bar with those 100,000 resting, next to recording one with none (the triggering runs behind the
  queue, so this stays in milliseconds).

Every run ends with the spec's invariants checked."""
from __future__ import annotations

import contextlib
import io
import time
import uuid
from decimal import Decimal
from typing import Any

from bench.figures import Figure, InvariantBroken, Spread
from bench.lambda_events import sqs_batch
from bench.stack import BenchStack

PRICE = Decimal("10.00")
CROSSED = 10_000
RESTING = 100_000


def run(stack: BenchStack, quick: bool) -> list[Figure]:
    crossed, resting, placements, rounds = (1_000, 5_000, 300, 1) if quick else (CROSSED, RESTING, 2_000, 3)
    book_rates, engine_rates = [], []
    for _ in range(rounds):
        with stack.database("book") as _url:
            market = Book(users=200)
            engine_rates.append(market.settle_market_orders(3_000 if not quick else 300))
            book_rates.append(market.fill_crossed(crossed))
            market.check()
    empty_rates, full_rates, empty_bars, full_bars = [], [], [], []
    with stack.database("book") as _url:
        market = Book(users=200)
        market.place_rate(placements)  # a round to warm the pool, the caches and the statements, not counted
        market.record_bar_ms()
        for _ in range(rounds):
            empty_rates.append(market.place_rate(placements))
            empty_bars.append(market.record_bar_ms())
        market.rest(resting)
        for _ in range(rounds):
            full_rates.append(market.place_rate(placements))
            full_bars.append(market.record_bar_ms())
        market.check()
    return [
        Figure("book", f"a bar crossing {crossed:,} resting limits: orders filled/s", "orders/s",
               Spread.of(book_rates), "settlement engine, market orders, same run", Spread.of(engine_rates),
               better="higher", target=0.8, details={"book_batch": _book_batch()}),
        Figure("book", f"placement with {resting:,} resting orders", "orders/s", Spread.of(full_rates),
               "placement with an empty book", Spread.of(empty_rates), better="higher", target=0.9,
               details={"placements_per_round": placements, "path": "order desk statement, in process"}),
        Figure("book", f"bar ingest with {resting:,} resting orders", "ms", Spread.of(full_bars),
               "bar ingest with an empty book", Spread.of(empty_bars), better="lower"),
    ]


def _book_batch() -> int:
    from chalicelib.config import get_settings

    return get_settings().book_batch


class Book:
    """Users with cash, and one stock whose bars cross what rests, written straight to the database."""

    def __init__(self, users: int) -> None:
        from sqlalchemy import insert

        from chalicelib.adapters.database import get_engine
        from chalicelib.adapters.tables import Stock, User

        self.users = [uuid.uuid4() for _ in range(users)]
        self.names = {user: f"u{i}" for i, user in enumerate(self.users)}
        self.balances = {f"u{i}": Decimal("100000000.00") for i in range(users)}
        self.ticker = "BOOK"
        self.volume = 10**9
        with get_engine().begin() as conn:
            conn.execute(insert(User), [{"id": user, "username": self.names[user], "balance": self.balances[name],
                                         "starting_balance": self.balances[name]}
                                        for user, name in self.names.items()])
            conn.execute(insert(Stock), [{"ticker": self.ticker, "open_price": PRICE, "close_price": PRICE,
                                          "high": PRICE, "low": PRICE, "volume": self.volume,
                                          "total_shares": self.volume}])
        self.close = PRICE

    def _insert_buys(self, count: int, limit: Decimal | None, time_in_force: str | None) -> list[uuid.UUID]:
        """Open buys with the reservations placement makes, and (for market orders) their outbox rows."""
        from sqlalchemy import bindparam, insert, update

        from chalicelib.adapters.database import get_engine
        from chalicelib.adapters.tables import OutboxMessage, Trade, User
        from chalicelib.domain.messages import settlement_message

        rows, cash = [], dict.fromkeys(self.users, Decimal(0))
        for i in range(count):
            user = self.users[i % len(self.users)]
            reserved = (limit or self.close) * 2
            cash[user] += reserved
            rows.append({"id": uuid.uuid4(), "user_id": user, "ticker": self.ticker, "side": "buy", "volume": 2,
                         "reserved_cash": reserved, "order_type": "market" if limit is None else "limit",
                         "limit_price": limit, "time_in_force": time_in_force})
        with get_engine().begin() as conn:
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(Trade), rows[start:start + 10_000])
            if limit is None:
                conn.execute(insert(OutboxMessage), [{"trade_id": r["id"], "payload": settlement_message(r["id"])}
                                                     for r in rows])
            conn.execute(update(User).where(User.id == bindparam("uid"))
                         .values(reserved_cash=User.reserved_cash + bindparam("add")),
                         [{"uid": u, "add": c} for u, c in cash.items() if c])
        return [r["id"] for r in rows]

    def settle_market_orders(self, count: int) -> float:
        """The settlement engine's rate: market buys fed to the consumer in batches of 10."""
        from chalicelib.domain.messages import settlement_message

        ids = self._insert_buys(count, None, None)
        batches = [sqs_batch([settlement_message(t) for t in ids[i:i + 10]]) for i in range(0, len(ids), 10)]
        started = time.perf_counter()
        for batch in batches:
            _consume(batch)
        return count / (time.perf_counter() - started)

    def fill_crossed(self, count: int) -> float:
        """Rest `count` limit buys at close - 0.50, then record a bar at close - 1.00: filled per second."""
        from chalicelib.domain.messages import book_message

        limit = self.close - Decimal("0.50")
        ids = self._insert_buys(count, limit, "gtc")
        started = time.perf_counter()
        self._record(self.close - 1)
        _consume(sqs_batch([book_message(self.ticker)]))
        elapsed = time.perf_counter() - started
        if self._filled(ids) != count:
            raise InvariantBroken(f"{count - self._filled(ids)} of {count} crossed orders left open")
        return count / elapsed

    def rest(self, count: int) -> None:
        """`count` limit buys far below the market: they rest whatever the bench's bars do."""
        self._insert_buys(count, Decimal("0.01"), "gtc")

    def place_rate(self, count: int) -> float:
        """Orders the desk places per second, one after another, over the users in turn (market buys)."""
        from chalicelib.adapters.placement import get_order_desk
        from chalicelib.domain import records
        from chalicelib.domain.vocabulary import OrderType, Side, TimeInForce

        desk = get_order_desk()
        tickets = [records.Ticket(uuid.uuid4(), str(self.users[i % len(self.users)]), self.ticker, Side.BUY, 1,
                                  None, TimeInForce.GTC, None, None, "bench", OrderType.MARKET)
                   for i in range(count)]
        started = time.perf_counter()
        for ticket in tickets:
            if desk.place(ticket) is None:
                raise InvariantBroken("the desk refused a bench order")
        return count / (time.perf_counter() - started)

    def record_bar_ms(self) -> float:
        started = time.perf_counter()
        self._record(self.close)
        return (time.perf_counter() - started) * 1000

    def _record(self, close: Decimal) -> None:
        from datetime import UTC, datetime

        from chalicelib.api.classic.shapes import NewBar
        from chalicelib.services import prices
        from chalicelib.services.unit_of_work import UnitOfWork

        bar = NewBar.parse({"timestamp": datetime.now(UTC).isoformat(), "open_price": close, "close_price": close,
                            "high": close, "low": close, "volume": self.volume})
        # Recorded without the after-commit steps: the bench hands the book message to the consumer itself.
        prices.record(self.ticker, bar, UnitOfWork(publish=lambda events: None))

    def _filled(self, ids: list[uuid.UUID]) -> int:
        from sqlalchemy import text

        from chalicelib.adapters.database import get_engine

        with get_engine().connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM trades WHERE id = ANY(:ids) AND status = 'settled'"),
                                    {"ids": ids}).scalar_one())

    def check(self) -> None:
        from chalicelib.adapters.database import get_engine
        from devstack.invariants import violations

        with get_engine().connect() as conn:
            broken = violations(conn, self.balances, {}, all_final=False)
        if broken:
            raise InvariantBroken(f"book: {broken[:5]}")


def _consume(batch: dict[str, Any]) -> None:
    from chalicelib.api import consumer
    from devstack.lambda_context import LambdaContext

    with contextlib.redirect_stdout(io.StringIO()):  # the EMF metric lines, printed into a buffer
        answer = consumer.handle_batch(batch, LambdaContext(function_name="bench-settle_trades"))
    assert not answer["batchItemFailures"], answer
