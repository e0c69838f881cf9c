"""orders as traders expect them: cancel, limit price, time in force; prices that move by bars

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('trades', sa.Column('canceled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('trades', sa.Column('limit_price', sa.Numeric(precision=12, scale=2), nullable=True))
    op.add_column('trades', sa.Column('time_in_force', sa.String(length=3), server_default=sa.text("'ioc'"),
                                      nullable=False))
    op.drop_constraint(op.f('ck_trades_status_known'), 'trades', type_='check')
    op.create_check_constraint(op.f('ck_trades_status_known'), 'trades',
                               "status IN ('pending', 'settled', 'rejected', 'canceled')")
    op.create_check_constraint(op.f('ck_trades_canceled_has_time'), 'trades',
                               "(status = 'canceled') = (canceled_at IS NOT NULL)")
    op.create_check_constraint(op.f('ck_trades_limit_price_non_negative'), 'trades', "limit_price >= 0")
    op.create_check_constraint(op.f('ck_trades_time_in_force_known'), 'trades', "time_in_force IN ('ioc')")

    op.add_column('stocks', sa.Column('price_as_of', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                                      nullable=False))
    op.add_column('stocks', sa.Column('total_shares', sa.BigInteger(), nullable=True))
    # Each stock's prices were current from its ingest; on offer plus held is what settlement has conserved since.
    op.execute("UPDATE stocks s SET price_as_of = s.created_at, total_shares = s.volume + COALESCE("
               "(SELECT SUM(h.quantity) FROM holdings h WHERE h.ticker = s.ticker), 0)")
    op.alter_column('stocks', 'total_shares', nullable=False)

    op.create_table('price_bars',
    sa.Column('ticker', sa.String(length=15), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('open_price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('close_price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('high', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('low', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('volume', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('low <= close_price AND close_price <= high', name=op.f('ck_price_bars_close_within_range')),
    sa.CheckConstraint('low <= open_price AND open_price <= high', name=op.f('ck_price_bars_open_within_range')),
    sa.CheckConstraint('low >= 0', name=op.f('ck_price_bars_low_non_negative')),
    sa.CheckConstraint('volume >= 0', name=op.f('ck_price_bars_volume_non_negative')),
    sa.ForeignKeyConstraint(['ticker'], ['stocks.ticker'], name=op.f('fk_price_bars_ticker_stocks')),
    sa.PrimaryKeyConstraint('ticker', 'timestamp', name=op.f('pk_price_bars'))
    )
    # Every stock's ingested data becomes its first bar, with the volume it was ingested with: what is on offer
    # now, plus what settled buys took, less what settled sells gave back.
    op.execute("""
        INSERT INTO price_bars (ticker, timestamp, open_price, close_price, high, low, volume, created_at)
        SELECT s.ticker, s.created_at, s.open_price, s.close_price, s.high, s.low,
               s.volume + COALESCE((SELECT SUM(CASE WHEN t.side = 'buy' THEN t.volume ELSE -t.volume END)
                                    FROM trades t WHERE t.ticker = s.ticker AND t.status = 'settled'), 0),
               s.created_at
        FROM stocks s""")


def downgrade() -> None:
    op.drop_table('price_bars')
    op.drop_column('stocks', 'total_shares')
    op.drop_column('stocks', 'price_as_of')
    # Canceled orders released what they had set aside and never settled: as rejected ones, with the reason said.
    op.execute("UPDATE trades SET status = 'rejected', reason = 'canceled' WHERE status = 'canceled'")
    op.drop_constraint(op.f('ck_trades_time_in_force_known'), 'trades', type_='check')
    op.drop_constraint(op.f('ck_trades_limit_price_non_negative'), 'trades', type_='check')
    op.drop_constraint(op.f('ck_trades_canceled_has_time'), 'trades', type_='check')
    op.drop_constraint(op.f('ck_trades_status_known'), 'trades', type_='check')
    op.create_check_constraint(op.f('ck_trades_status_known'), 'trades', "status IN ('pending', 'settled', 'rejected')")
    op.drop_column('trades', 'time_in_force')
    op.drop_column('trades', 'limit_price')
    op.drop_column('trades', 'canceled_at')
