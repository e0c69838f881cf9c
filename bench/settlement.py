"""The settlement engine alone: one consumer process fed SQS batches of 10 built directly (no emulator in the
path), for trades spread over many users and tickers and for trades that all hit one user and one ticker, next
to pgbench running the same SQL work on the same server (lock trade, user, holding and stock, update them, update
the trade, delete its outbox row), which is the floor. Every run ends with the spec's invariants checked."""
from __future__ import annotations

import contextlib
import io
import random
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from bench.figures import Figure, InvariantBroken, Spread
from bench.lambda_events import sqs_batch
from bench.round_trips import RoundTrips
from bench.stack import BenchStack

PRICE = Decimal("10.00")
HELD = 100_000  # shares each user starts with, so sells have something to sell
FLOAT = 10**8  # shares of each stock on offer


def run(stack: BenchStack, quick: bool) -> list[Figure]:

    trades, rounds, seconds = (200, 1, 2) if quick else (3000, 3, 8)
    figures = []
    for scenario, users, tickers in (("spread over 200 users x 20 tickers", 200, 20), ("one user, one ticker", 1, 1)):
        with stack.database("settlement") as database_url:
            market = Market(users, tickers)
            ours, per_trade = [], []
            for _ in range(rounds):
                ids = market.place(trades)
                elapsed, calls = _consume(ids)
                ours.append(trades / elapsed)
                per_trade.append(calls)
                broken = market.violations()
                if broken:
                    raise InvariantBroken(f"{scenario}: {broken}")
            ids = market.place(trades)  # pending rows for pgbench to lock and rewrite (it changes no value)
            floor = [_pgbench(database_url, market, ids, seconds) for _ in range(rounds)]
        figures.append(Figure("settlement", f"trades settled/s, {scenario}", "trades/s", Spread.of(ours),
                              "pgbench, same SQL, 1 client", Spread.of(floor), better="higher", target=0.6,
                              details={"batch_size": 10, "trades_per_round": trades,
                                       "round_trips_per_trade": per_trade[-1]}))
    return figures


class Market:
    """Users, stocks and holdings written straight to the database, and pending trades placed on them with the
    reservations placement would have made, so the consumer has real work and the invariants can be checked."""

    def __init__(self, users: int, tickers: int) -> None:
        from sqlalchemy import insert

        from chalicelib.adapters.database import get_engine
        from chalicelib.adapters.tables import Holding, Stock, User

        self.rng = random.Random(7)
        self.users = [uuid.uuid4() for _ in range(users)]
        self.tickers = [f"B{i:03d}" for i in range(tickers)]
        self.balances = {f"u{i}": Decimal("10000000.00") for i in range(users)}
        self.volumes = dict.fromkeys(self.tickers, FLOAT + HELD * users)
        with get_engine().begin() as conn:
            conn.execute(insert(User), [{"id": user, "username": f"u{i}", "balance": self.balances[f"u{i}"],
                                         "starting_balance": self.balances[f"u{i}"]}
                                        for i, user in enumerate(self.users)])
            conn.execute(insert(Stock), [{"ticker": t, "open_price": PRICE, "close_price": PRICE, "high": PRICE,
                                          "low": PRICE, "volume": FLOAT,
                                          "total_shares": FLOAT + HELD * len(self.users)} for t in self.tickers])
            conn.execute(insert(Holding), [{"user_id": u, "ticker": t, "quantity": HELD}
                                           for u in self.users for t in self.tickers])

    def place(self, count: int) -> list[uuid.UUID]:
        from sqlalchemy import bindparam, insert, update

        from chalicelib.adapters.database import get_engine
        from chalicelib.adapters.tables import Holding, OutboxMessage, Trade, User
        from chalicelib.domain.messages import settlement_message

        rows, cash, shares = [], dict.fromkeys(self.users, Decimal(0)), {}
        for _ in range(count):
            user, ticker = self.rng.choice(self.users), self.rng.choice(self.tickers)
            side, volume = self.rng.choice(("buy", "sell")), self.rng.randint(1, 10)
            reserved_cash = PRICE * volume if side == "buy" else Decimal(0)
            reserved_shares = volume if side == "sell" else 0
            cash[user] += reserved_cash
            shares[(user, ticker)] = shares.get((user, ticker), 0) + reserved_shares
            rows.append({"id": uuid.uuid4(), "user_id": user, "ticker": ticker, "side": side, "volume": volume,
                         "reserved_cash": reserved_cash, "reserved_quantity": reserved_shares})
        with get_engine().begin() as conn:
            conn.execute(insert(Trade), rows)
            conn.execute(insert(OutboxMessage), [{"trade_id": r["id"], "payload": settlement_message(r["id"])}
                                                 for r in rows])
            conn.execute(update(User).where(User.id == bindparam("uid"))
                         .values(reserved_cash=User.reserved_cash + bindparam("add")),
                         [{"uid": u, "add": c} for u, c in cash.items() if c])
            conn.execute(update(Holding).where(Holding.user_id == bindparam("uid"), Holding.ticker == bindparam("t"))
                         .values(reserved_quantity=Holding.reserved_quantity + bindparam("add")),
                         [{"uid": u, "t": t, "add": s} for (u, t), s in shares.items() if s])
        return [r["id"] for r in rows]

    def violations(self) -> list[str]:
        from chalicelib.adapters.database import get_engine
        from devstack.invariants import violations

        with get_engine().connect() as conn:
            return violations(conn, self.balances, self.volumes)


def _consume(trade_ids: list[uuid.UUID]) -> tuple[float, dict[str, float]]:
    """Feed the consumer batches of 10 as Lambda would; returns seconds taken and round trips per trade."""
    from chalicelib.api import consumer
    from chalicelib.domain.messages import settlement_message
    from devstack.lambda_context import LambdaContext

    batches = [sqs_batch([settlement_message(t) for t in trade_ids[i:i + 10]]) for i in range(0, len(trade_ids), 10)]
    sink = io.StringIO()
    # The EMF metric lines are formatted and printed, into a buffer.
    with RoundTrips() as trips, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        for batch in batches:
            answer = consumer.handle_batch(batch, LambdaContext(function_name="bench-settle_trades"))
            assert not answer["batchItemFailures"], answer
        elapsed = time.perf_counter() - started
    return elapsed, trips.per(len(trade_ids))


PGBENCH_SCRIPT = """\\set n random(1, :count)
SELECT id AS tid, user_id AS uid, ticker AS tk FROM bench_trade_ids WHERE n = :n \\gset
BEGIN;
SELECT status, side, volume, reserved_cash, reserved_quantity FROM trades WHERE id = :tid FOR UPDATE;
SELECT balance, reserved_cash FROM users WHERE id = :uid FOR UPDATE;
INSERT INTO holdings (user_id, ticker) VALUES (:uid, :tk) ON CONFLICT (user_id, ticker)
  DO UPDATE SET quantity = holdings.quantity RETURNING quantity, reserved_quantity;
SELECT close_price, volume FROM stocks WHERE ticker = :tk FOR UPDATE;
UPDATE users SET balance = balance, reserved_cash = reserved_cash WHERE id = :uid;
UPDATE holdings SET quantity = quantity, reserved_quantity = reserved_quantity WHERE user_id = :uid AND ticker = :tk;
UPDATE stocks SET volume = volume WHERE ticker = :tk;
UPDATE trades SET status = status, reason = reason, total = total, price = price, settled_at = settled_at
  WHERE id = :tid;
DELETE FROM outbox WHERE trade_id = :tid;
END;
"""


def _pgbench(database_url: str, market: Market, trade_ids: list[uuid.UUID], seconds: float) -> float:
    """Transactions per second of the same SQL work from one pgbench client with prepared statements."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from chalicelib.adapters.database import get_engine

    with get_engine().begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_trade_ids"))
        conn.execute(text("CREATE TABLE bench_trade_ids (n serial PRIMARY KEY, id uuid, user_id uuid, ticker text)"))
        conn.execute(text("INSERT INTO bench_trade_ids (id, user_id, ticker) SELECT id, user_id, ticker FROM trades "
                          "WHERE id = ANY(:ids)"), {"ids": trade_ids})
    script = Path(tempfile.gettempdir()) / f"tradeapi-settlement-{uuid.uuid4().hex[:6]}.sql"
    script.write_text(PGBENCH_SCRIPT)
    url = make_url(database_url)
    socket = url.query.get("unix_sock")
    host = str(Path(str(socket)).parent) if socket else (url.host or "127.0.0.1")
    command = [_pgbench_binary(), "-n", "-M", "prepared", "-c", "1", "-j", "1", "-T", str(int(seconds)),
               "-D", f"count={len(trade_ids)}", "-f", str(script), "-h", host, "-p", str(url.port or 5432),
               "-U", url.username or "postgres", url.database or "postgres"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    finally:
        script.unlink()
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


def _pgbench_binary() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    import pgserver  # ships PostgreSQL's client programs, pgbench among them

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench")
