"""Migrations against real data: a database at the revision before price bars, holding settled and pending trades,
upgraded to head keeps every row, turns each stock into its first bar without loss, and reconstructs each user's
starting cash, each position's average entry price and each sell's realized P/L; the downgrade returns."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from devstack.database import create_database, downgrade, drop_database, migrate
from devstack.invariants import violations
from devstack.services import Service


@pytest.fixture
def old_database(postgres_service: Service) -> Iterator[tuple[str, Engine]]:
    name = f"tradeapi_migrate_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_service.url, name)
    migrate(url, "0003")
    engine = create_engine(url)
    yield url, engine
    engine.dispose()
    drop_database(postgres_service.url, name)


def test_0004_and_0005_keep_every_row_and_reconstruct_bars_and_positions(old_database: tuple[str, Engine]) -> None:
    url, engine = old_database
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, username, balance, reserved_cash) VALUES "
                          "(:a, 'alice', 9000, 100), (:b, 'bob', 500, 0)"), {"a": alice, "b": bob})
        conn.execute(text("INSERT INTO stocks (ticker, open_price, close_price, high, low, volume, created_at) VALUES "
                          "('AAPL', 9, 10, 11, 8, 930, '2026-01-02T03:04:05Z'), "
                          "('IDLE', 1, 1, 1, 1, 50, '2026-01-03T00:00:00Z')"))
        # Alice bought 100 at 10 and sold 30 at 12 (70 held); Bob's buy was rejected; Alice has a pending buy of 10.
        conn.execute(text("""INSERT INTO trades (id, user_id, ticker, side, volume, status, price, total, settled_at,
                                                 reason, reserved_cash) VALUES
            (gen_random_uuid(), :a, 'AAPL', 'buy', 100, 'settled', 10, 1000, now(), NULL, 0),
            (gen_random_uuid(), :a, 'AAPL', 'sell', 30, 'settled', 12, 360, now() + interval '1 second', NULL, 0),
            (gen_random_uuid(), :b, 'AAPL', 'buy', 99, 'rejected', NULL, NULL, NULL, 'insufficient_funds', 0),
            (gen_random_uuid(), :a, 'AAPL', 'buy', 10, 'pending', NULL, NULL, NULL, NULL, 100)"""),
                     {"a": alice, "b": bob})
        conn.execute(text("INSERT INTO holdings (user_id, ticker, quantity) VALUES (:a, 'AAPL', 70)"), {"a": alice})
        before = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                  for table in ("users", "stocks", "trades", "holdings")}

    migrate(url)
    with engine.connect() as conn:
        assert {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in before} == before
        bars = conn.execute(text("SELECT ticker, timestamp, open_price, close_price, high, low, volume "
                                 "FROM price_bars ORDER BY ticker")).all()
        stocks = conn.execute(text("SELECT ticker, close_price, volume, total_shares, price_as_of, created_at "
                                   "FROM stocks ORDER BY ticker")).all()
        trades = conn.execute(text("SELECT DISTINCT time_in_force, limit_price, canceled_at FROM trades")).all()
    # The volume each was ingested with: on offer now, plus settled buys, less settled sells.
    assert [(b.ticker, b.open_price, b.close_price, b.high, b.low, b.volume) for b in bars] == [
        ("AAPL", 9, 10, 11, 8, 1000), ("IDLE", 1, 1, 1, 1, 50)]
    assert [(s.ticker, s.close_price, s.volume, s.total_shares) for s in stocks] == [
        ("AAPL", 10, 930, 1000), ("IDLE", 1, 50, 50)]
    assert all(s.price_as_of == s.created_at == b.timestamp for s, b in zip(stocks, bars, strict=True))
    assert trades == [(None, None, None)]  # 0007: the classic order has no time in force
    with engine.connect() as conn:
        starting = dict(conn.execute(text("SELECT username, starting_balance FROM users")).all())
        average = conn.execute(text("SELECT average_entry_price FROM holdings")).scalar()
        realized = conn.execute(text("SELECT side, realized_pl, rejected_at IS NOT NULL FROM trades "
                                     "WHERE status <> 'pending' ORDER BY side, status")).all()
        assert violations(conn, {}, {}, all_final=False) == []
    assert starting == {"alice": 9640, "bob": 500}  # 9000 = 9640 - 1000 + 360
    assert average == 10 and realized == [("buy", None, True), ("buy", None, False), ("sell", 60, False)]

    downgrade(url, "0003")
    with engine.connect() as conn:
        assert {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in before} == before
        assert conn.execute(text("SELECT to_regclass('price_bars')")).scalar() is None

