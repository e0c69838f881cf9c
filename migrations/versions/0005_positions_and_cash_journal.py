"""an account you can reconcile: starting cash, average entry prices and realized P/L, a cash journal

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, localcontext

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

EXACT = sa.Numeric(precision=40, scale=20)
PLACES = Decimal(1).scaleb(-20)


def upgrade() -> None:
    op.add_column('users', sa.Column('starting_balance', sa.Numeric(precision=24, scale=2), nullable=True))
    # Before the journal, cash moved only by settled trades.
    op.execute("""UPDATE users u SET starting_balance = u.balance + COALESCE(
        (SELECT SUM(CASE WHEN t.side = 'buy' THEN t.total ELSE -t.total END) FROM trades t
         WHERE t.user_id = u.id AND t.status = 'settled'), 0)""")
    op.alter_column('users', 'starting_balance', nullable=False)

    op.add_column('holdings', sa.Column('average_entry_price', EXACT, server_default=sa.text('0'), nullable=False))
    op.add_column('trades', sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('trades', sa.Column('realized_pl', EXACT, nullable=True))
    # When a trade was rejected was not recorded: its placement time stands in.
    op.execute("UPDATE trades SET rejected_at = created_at WHERE status = 'rejected'")
    _replay_settled_trades()
    op.create_check_constraint(op.f('ck_trades_rejected_has_time'), 'trades',
                               "(status = 'rejected') = (rejected_at IS NOT NULL)")
    op.create_check_constraint(op.f('ck_trades_realized_on_sells'), 'trades',
                               "realized_pl IS NULL OR (status = 'settled' AND side = 'sell')")

    op.create_table('cash_movements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.Numeric(precision=24, scale=2), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    sa.CheckConstraint("amount > 0", name=op.f('ck_cash_movements_amount_positive')),
    sa.CheckConstraint("kind IN ('deposit', 'withdrawal')", name=op.f('ck_cash_movements_kind_known')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cash_movements_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_movements'))
    )
    op.create_index('ix_cash_movements_user_id_created_at_id', 'cash_movements',
                    ['user_id', sa.text('created_at DESC'), sa.text('id DESC')], unique=False)
    op.create_index('uq_cash_movements_user_id_idempotency_key', 'cash_movements', ['user_id', 'idempotency_key'],
                    unique=True, postgresql_where=sa.text('idempotency_key IS NOT NULL'))


def _replay_settled_trades() -> None:
    """Each position's average entry price and each settled sell's realized P/L, as settlement now computes them,
    from the settled trades in the order they settled."""
    conn = op.get_bind()
    trades = conn.execute(sa.text("SELECT id, user_id, ticker, side, volume, price FROM trades "
                                  "WHERE status = 'settled' ORDER BY settled_at, created_at, id")).all()
    positions: dict[tuple[object, str], tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    realized: list[dict[str, object]] = []
    with localcontext() as exact:
        exact.prec = 60
        for trade in trades:
            quantity, average = positions[(trade.user_id, trade.ticker)]
            if trade.side == 'buy':
                average = ((average * quantity + trade.price * trade.volume) / (quantity + trade.volume)).quantize(
                    PLACES)
                quantity += trade.volume
            else:
                realized.append({"id": trade.id, "pl": ((trade.price - average) * trade.volume).quantize(PLACES)})
                quantity -= trade.volume
                average = average if quantity > 0 else Decimal(0)
            positions[(trade.user_id, trade.ticker)] = (quantity, average)
    if realized:
        conn.execute(sa.text("UPDATE trades SET realized_pl = :pl WHERE id = :id"), realized)
    averages = [{"user_id": user_id, "ticker": ticker, "average": average}
                for (user_id, ticker), (quantity, average) in positions.items() if quantity > 0]
    if averages:
        conn.execute(sa.text("UPDATE holdings SET average_entry_price = :average "
                             "WHERE user_id = :user_id AND ticker = :ticker"), averages)


def downgrade() -> None:
    op.drop_index('uq_cash_movements_user_id_idempotency_key', table_name='cash_movements',
                  postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.drop_index('ix_cash_movements_user_id_created_at_id', table_name='cash_movements')
    op.drop_table('cash_movements')
    op.drop_constraint(op.f('ck_trades_realized_on_sells'), 'trades', type_='check')
    op.drop_constraint(op.f('ck_trades_rejected_has_time'), 'trades', type_='check')
    op.drop_column('trades', 'realized_pl')
    op.drop_column('trades', 'rejected_at')
    op.drop_column('holdings', 'average_entry_price')
    op.drop_column('users', 'starting_balance')
