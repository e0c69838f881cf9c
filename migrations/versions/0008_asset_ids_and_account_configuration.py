"""each stock's asset id, stored as a generated column and indexed; an account's trading configuration

A stock's asset id is derived from its ticker by the database (`chalicelib.domain.assets`), so existing stocks
have one at once and no writer of stocks needs to know of it. An account may suspend its own trading (no new
orders until it lifts the suspension) and keep Alpaca's trade-confirmation and PTP preferences.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chalicelib.domain.assets import ASSET_ID_SQL

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('stocks', sa.Column('asset_id', sa.Uuid(), sa.Computed(ASSET_ID_SQL, persisted=True),
                                      nullable=False))
    op.create_index('uq_stocks_asset_id', 'stocks', ['asset_id'], unique=True)
    op.add_column('users', sa.Column('trading_suspended', sa.Boolean(), server_default=sa.text('false'),
                                     nullable=False))
    op.add_column('users', sa.Column('trade_confirm_email', sa.String(4), server_default=sa.text("'all'"),
                                     nullable=False))
    op.add_column('users', sa.Column('ptp_no_exception_entry', sa.Boolean(), server_default=sa.text('false'),
                                     nullable=False))
    op.create_check_constraint(op.f('ck_users_trade_confirm_email_known'), 'users',
                               "trade_confirm_email IN ('all', 'none')")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_users_trade_confirm_email_known'), 'users', type_='check')
    for column in ('ptp_no_exception_entry', 'trade_confirm_email', 'trading_suspended'):
        op.drop_column('users', column)
    op.drop_index('uq_stocks_asset_id', table_name='stocks')
    op.drop_column('stocks', 'asset_id')
