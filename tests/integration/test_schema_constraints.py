"""The database enforces the money rules a second time: direct writes that break them are refused."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from chalicelib.adapters.database import get_engine
from devstack.database import migrate


def run(sql: str, **params) -> None:
    with get_engine().begin() as conn:
        conn.execute(text(sql), params)


@pytest.fixture
def user_and_stock() -> uuid.UUID:
    user_id = uuid.uuid4()
    run("INSERT INTO users (id, username, balance, starting_balance) VALUES (:id, 'alice', 100, 100)", id=user_id)
    run("INSERT INTO stocks (ticker, open_price, close_price, high, low, volume, total_shares) "
        "VALUES ('AAPL', 1, 1, 1, 1, 10, 10)")
    return user_id


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE users SET balance = -0.01",
        "UPDATE users SET reserved_cash = balance + 1",
        "UPDATE stocks SET volume = -1",
        "UPDATE stocks SET low = high + 1",
        "INSERT INTO users (id, username, balance, starting_balance) VALUES (gen_random_uuid(), 'alice', 1, 1)",
        "INSERT INTO cash_movements (id, user_id, kind, amount) SELECT gen_random_uuid(), id, 'deposit', 0 FROM users",
        "INSERT INTO cash_movements (id, user_id, kind, amount) SELECT gen_random_uuid(), id, 'gift', 1 FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, status, reason) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'rejected', 'limit_not_met' FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, realized_pl) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'sell', 1, 5 FROM users",
        "INSERT INTO stocks (ticker, open_price, close_price, high, low, volume, total_shares) "
        "VALUES ('AAPL', 1, 1, 1, 1, 1, 1)",
        "INSERT INTO holdings (user_id, ticker, quantity) SELECT id, 'AAPL', -1 FROM users",
        "INSERT INTO holdings (user_id, ticker, quantity, reserved_quantity) SELECT id, 'AAPL', 1, 2 FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'hold', 1 FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 0 FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, status) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'settled' FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, status) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'rejected' FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, status) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'canceled' FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, canceled_at) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, now() FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, limit_price) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, -0.01 FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, time_in_force) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'opg' FROM users",
        # The order engine's rules: what each order type needs, fills within the order, a final state's marks.
        "INSERT INTO trades (id, user_id, ticker, side, volume, order_type) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'limit' FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, order_type, limit_price) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'stop', 1 FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, order_type) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'trailing' FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, filled_qty, price, total, filled_avg_price) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 2, 1, 2, 1 FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, filled_qty) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 2, 1 FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, time_in_force) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'day' FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, status, replaced_at) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'replaced', now() FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, triggered_at) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, now() FROM users",
        "INSERT INTO trades (id, user_id, ticker, side, volume, status, expired_at, reason) "
        "SELECT gen_random_uuid(), id, 'AAPL', 'buy', 1, 'expired', now(), 'limit_not_met' FROM users",
        "INSERT INTO price_bars (ticker, timestamp, open_price, close_price, high, low, volume) "
        "VALUES ('AAPL', now(), 1, 1, 1, 1, -1)",
        "INSERT INTO price_bars (ticker, timestamp, open_price, close_price, high, low, volume) "
        "VALUES ('AAPL', now(), 2, 1, 1, 1, 1)",
        "INSERT INTO price_bars (ticker, timestamp, open_price, close_price, high, low, volume) "
        "VALUES ('NOPE', now(), 1, 1, 1, 1, 1)",
    ],
)
def test_constraint_refuses(user_and_stock, sql: str) -> None:
    with pytest.raises(DBAPIError) as caught:
        run(sql)
    # SQLSTATE class 23: integrity constraint violation (pg8000 reports CHECK failures as ProgrammingError).
    assert caught.value.orig.args[0]["C"].startswith("23")


def test_indexes_cover_the_routes_queries() -> None:
    with get_engine().connect() as conn:
        names = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")).scalars())
    assert {"uq_users_lower_username", "pk_stocks", "ix_trades_user_id_created_at_id", "ix_outbox_unsent"} <= names


def test_migrations_are_idempotent_and_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from chalicelib.adapters.tables import Base

    migrate(database_url)  # already at head: a no-op
    with get_engine().connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
