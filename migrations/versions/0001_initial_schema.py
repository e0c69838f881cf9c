"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stocks',
    sa.Column('ticker', sa.String(length=15), nullable=False),
    sa.Column('open_price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('close_price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('high', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('low', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('volume', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('low <= close_price AND close_price <= high', name=op.f('ck_stocks_close_within_range')),
    sa.CheckConstraint('low <= open_price AND open_price <= high', name=op.f('ck_stocks_open_within_range')),
    sa.CheckConstraint('low >= 0', name=op.f('ck_stocks_low_non_negative')),
    sa.CheckConstraint('volume >= 0', name=op.f('ck_stocks_volume_non_negative')),
    sa.PrimaryKeyConstraint('ticker', name=op.f('pk_stocks'))
    )
    op.create_table('users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('username', sa.String(length=50), nullable=False),
    sa.Column('balance', sa.Numeric(precision=24, scale=2), nullable=False),
    sa.Column('reserved_cash', sa.Numeric(precision=24, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_users_balance_non_negative')),
    sa.CheckConstraint('reserved_cash <= balance', name=op.f('ck_users_reserved_cash_within_balance')),
    sa.CheckConstraint('reserved_cash >= 0', name=op.f('ck_users_reserved_cash_non_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('holdings',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('ticker', sa.String(length=15), nullable=False),
    sa.Column('quantity', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('reserved_quantity', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_holdings_quantity_non_negative')),
    sa.CheckConstraint('reserved_quantity <= quantity', name=op.f('ck_holdings_reserved_quantity_within_quantity')),
    sa.CheckConstraint('reserved_quantity >= 0', name=op.f('ck_holdings_reserved_quantity_non_negative')),
    sa.ForeignKeyConstraint(['ticker'], ['stocks.ticker'], name=op.f('fk_holdings_ticker_stocks')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_holdings_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'ticker', name=op.f('pk_holdings'))
    )
    op.create_table('trades',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('ticker', sa.String(length=15), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('volume', sa.BigInteger(), nullable=False),
    sa.Column('reserved_cash', sa.Numeric(precision=24, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('reserved_quantity', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('status', sa.String(length=10), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('total', sa.Numeric(precision=24, scale=2), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('client_order_id', sa.String(length=48), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    sa.CheckConstraint("(status = 'rejected') = (reason IS NOT NULL)", name=op.f('ck_trades_rejected_has_reason')),
    sa.CheckConstraint('reserved_cash >= 0 AND reserved_quantity >= 0', name=op.f('ck_trades_reservations_non_negative')),
    sa.CheckConstraint("(status = 'settled') = (price IS NOT NULL AND settled_at IS NOT NULL)", name=op.f('ck_trades_settled_has_price')),
    sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_trades_side_known')),
    sa.CheckConstraint("status IN ('pending', 'settled', 'rejected')", name=op.f('ck_trades_status_known')),
    sa.CheckConstraint('volume BETWEEN 1 AND 1000000000', name=op.f('ck_trades_volume_in_range')),
    sa.ForeignKeyConstraint(['ticker'], ['stocks.ticker'], name=op.f('fk_trades_ticker_stocks')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_trades_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trades'))
    )
    op.create_index('ix_trades_user_id_created_at_id', 'trades', ['user_id', sa.literal_column('created_at DESC'), sa.literal_column('id DESC')], unique=False)
    op.create_index('uq_trades_user_id_idempotency_key', 'trades', ['user_id', 'idempotency_key'], unique=True, postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('trade_id', sa.Uuid(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_attempts_non_negative')),
    sa.ForeignKeyConstraint(['trade_id'], ['trades.id'], name=op.f('fk_outbox_trade_id_trades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('trade_id', name=op.f('uq_outbox_trade_id'))
    )
    op.create_index('ix_outbox_unsent', 'outbox', ['created_at'], unique=False, postgresql_where=sa.text('sent_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_outbox_unsent', table_name='outbox', postgresql_where=sa.text('sent_at IS NULL'))
    op.drop_table('outbox')
    op.drop_index('uq_trades_user_id_idempotency_key', table_name='trades', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.drop_index('ix_trades_user_id_created_at_id', table_name='trades')
    op.drop_table('trades')
    op.drop_table('holdings')
    op.drop_table('users')
    op.drop_table('stocks')
