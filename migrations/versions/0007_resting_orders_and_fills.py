"""orders that rest: order types, time in force, stops, partial fills as rows of their own, replaces, expiry

Every settled trade becomes an order filled whole by one fill at its price, and a final one holds nothing (a
trade's reservation is now what it still holds, not what it once set aside); an order placed before this
revision has no time in force (the classic order: filled whole when evaluated, or rejected), as it behaved.
The downgrade keeps what the older schema can say: expired and replaced orders read canceled, and the fills of
an order that did not fill whole are dropped with the fills table (their cash and shares moved for good).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_OLD_CHECKS = {
    'settled_has_price': "(status = 'settled') = (price IS NOT NULL AND settled_at IS NOT NULL)",
    'rejected_has_reason': "(status = 'rejected') = (reason IS NOT NULL)",
    'realized_on_sells': "realized_pl IS NULL OR (status = 'settled' AND side = 'sell')",
    'status_known': "status IN ('pending', 'settled', 'rejected', 'canceled')",
    'time_in_force_known': "time_in_force IN ('ioc')",
}
_NEW_CHECKS = {
    'status_known': "status IN ('pending', 'settled', 'rejected', 'canceled', 'expired', 'replaced')",
    'order_type_known': "order_type IN ('market', 'limit', 'stop', 'stop_limit')",
    'time_in_force_known': "time_in_force IN ('day', 'gtc', 'ioc', 'fok')",
    'filled_within_volume': "filled_qty BETWEEN 0 AND volume",
    'settled_is_filled': "(status = 'settled') = (filled_qty = volume)",
    'settled_has_time': "(status = 'settled') = (settled_at IS NOT NULL)",
    'fills_priced': "(filled_qty > 0) = (price IS NOT NULL AND total IS NOT NULL AND filled_avg_price IS NOT NULL)",
    'rejected_has_reason': "status <> 'rejected' OR reason IS NOT NULL",
    'reason_on_rejected_or_canceled': "reason IS NULL OR status IN ('rejected', 'canceled')",
    'expired_has_time': "(status = 'expired') = (expired_at IS NOT NULL)",
    'replaced_has_successor': "(status = 'replaced') = (replaced_at IS NOT NULL AND replaced_by IS NOT NULL)",
    'realized_on_sells': "realized_pl IS NULL OR (side = 'sell' AND filled_qty > 0)",
    'stop_price_non_negative': "stop_price >= 0",
    'limit_has_price': "(order_type IN ('limit', 'stop_limit')) = (limit_price IS NOT NULL)",
    'stop_has_price': "(order_type IN ('stop', 'stop_limit')) = (stop_price IS NOT NULL)",
    'only_stops_trigger': "triggered_at IS NULL OR order_type IN ('stop', 'stop_limit')",
    'day_orders_expire': "(expires_at IS NOT NULL) = (time_in_force IS NOT DISTINCT FROM 'day')",
}
_MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    for name in _OLD_CHECKS:
        op.drop_constraint(op.f(f'ck_trades_{name}'), 'trades', type_='check')
    op.add_column('stocks', sa.Column('orders_evaluated_as_of', _MOMENT, nullable=True))
    op.add_column('stocks', sa.Column('orders_evaluated_at', _MOMENT, nullable=True))
    op.add_column('trades', sa.Column('filled_qty', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
    op.add_column('trades', sa.Column('filled_avg_price', sa.Numeric(precision=40, scale=20), nullable=True))
    for column in ('expired_at', 'replaced_at', 'triggered_at', 'expires_at'):
        op.add_column('trades', sa.Column(column, _MOMENT, nullable=True))
    op.add_column('trades', sa.Column('order_type', sa.String(length=10), server_default=sa.text("'market'"),
                                      nullable=False))
    op.add_column('trades', sa.Column('stop_price', sa.Numeric(precision=12, scale=2), nullable=True))
    op.add_column('trades', sa.Column('replaces', sa.Uuid(), nullable=True))
    op.add_column('trades', sa.Column('replaced_by', sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f('fk_trades_replaces_trades'), 'trades', 'trades', ['replaces'], ['id'])
    op.create_foreign_key(op.f('fk_trades_replaced_by_trades'), 'trades', 'trades', ['replaced_by'], ['id'])
    op.alter_column('trades', 'time_in_force', existing_type=sa.String(length=3), nullable=True, server_default=None)
    op.execute("""
        UPDATE trades SET time_in_force = NULL,
                          order_type = CASE WHEN limit_price IS NULL THEN 'market' ELSE 'limit' END,
                          filled_qty = CASE WHEN status = 'settled' THEN volume ELSE 0 END,
                          filled_avg_price = CASE WHEN status = 'settled' THEN price END,
                          reserved_cash = CASE WHEN status = 'pending' THEN reserved_cash ELSE 0 END,
                          reserved_quantity = CASE WHEN status = 'pending' THEN reserved_quantity ELSE 0 END""")
    op.create_table(
        'fills',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('trade_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('ticker', sa.String(length=15), nullable=False),
        sa.Column('side', sa.String(length=4), nullable=False),
        sa.Column('quantity', sa.BigInteger(), nullable=False),
        sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('amount', sa.Numeric(precision=24, scale=2), nullable=False),
        sa.Column('realized_pl', sa.Numeric(precision=40, scale=20), nullable=True),
        sa.Column('created_at', _MOMENT, nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_fills_side_known')),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_fills_quantity_positive')),
        sa.CheckConstraint('price >= 0', name=op.f('ck_fills_price_non_negative')),
        sa.CheckConstraint('amount = price * quantity', name=op.f('ck_fills_amount_is_price_times_quantity')),
        sa.CheckConstraint("realized_pl IS NULL OR side = 'sell'", name=op.f('ck_fills_realized_on_sells')),
        sa.ForeignKeyConstraint(['ticker'], ['stocks.ticker'], name=op.f('fk_fills_ticker_stocks')),
        sa.ForeignKeyConstraint(['trade_id'], ['trades.id'], name=op.f('fk_fills_trade_id_trades')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_fills_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fills')),
    )
    op.create_index('ix_fills_trade_id_created_at', 'fills', ['trade_id', 'created_at'])
    op.create_index('ix_fills_user_id_created_at_id', 'fills', ['user_id', sa.text('created_at DESC'),
                                                                 sa.text('id DESC')])
    op.execute("""
        INSERT INTO fills (id, trade_id, user_id, ticker, side, quantity, price, amount, realized_pl, created_at)
        SELECT gen_random_uuid(), id, user_id, ticker, side, volume, price, total, realized_pl, settled_at
        FROM trades WHERE status = 'settled'""")
    op.create_index('ix_trades_resting_limits', 'trades', ['ticker', 'side', 'limit_price'],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_trades_resting_stops', 'trades', ['ticker', 'side', 'stop_price'],
                    postgresql_where=sa.text("status = 'pending' AND triggered_at IS NULL AND stop_price IS NOT NULL"))
    op.create_index('ix_trades_day_orders', 'trades', ['expires_at'],
                    postgresql_where=sa.text("status = 'pending' AND expires_at IS NOT NULL"))
    for name, condition in _NEW_CHECKS.items():
        op.create_check_constraint(op.f(f'ck_trades_{name}'), 'trades', condition)


def downgrade() -> None:
    for name in _NEW_CHECKS:
        op.drop_constraint(op.f(f'ck_trades_{name}'), 'trades', type_='check')
    for index in ('ix_trades_day_orders', 'ix_trades_resting_stops', 'ix_trades_resting_limits'):
        op.drop_index(index, table_name='trades')
    op.drop_table('fills')
    op.execute("""
        UPDATE trades SET status = CASE WHEN status IN ('expired', 'replaced') THEN 'canceled' ELSE status END,
                          canceled_at = COALESCE(canceled_at, expired_at, replaced_at),
                          reason = CASE WHEN status = 'rejected' THEN reason END,
                          price = CASE WHEN status = 'settled' THEN price END,
                          total = CASE WHEN status = 'settled' THEN total END,
                          realized_pl = CASE WHEN status = 'settled' THEN realized_pl END,
                          time_in_force = 'ioc'""")
    op.alter_column('trades', 'time_in_force', existing_type=sa.String(length=3), nullable=False,
                    server_default=sa.text("'ioc'"))
    op.drop_constraint(op.f('fk_trades_replaced_by_trades'), 'trades', type_='foreignkey')
    op.drop_constraint(op.f('fk_trades_replaces_trades'), 'trades', type_='foreignkey')
    for column in ('replaced_by', 'replaces', 'stop_price', 'order_type', 'expires_at', 'triggered_at',
                   'replaced_at', 'expired_at', 'filled_avg_price', 'filled_qty'):
        op.drop_column('trades', column)
    op.drop_column('stocks', 'orders_evaluated_at')
    op.drop_column('stocks', 'orders_evaluated_as_of')
    for name, condition in _OLD_CHECKS.items():
        op.create_check_constraint(op.f(f'ck_trades_{name}'), 'trades', condition)
