"""the trade update stream's connection registry

Each WebSocket connection is registered when it connects, given its account when it authenticates, and marked
listening when it asks for `trade_updates`; the notifier posts an account's updates to its listening connections.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stream_connections',
        sa.Column('id', sa.String(128), nullable=False),
        sa.Column('endpoint', sa.String(512), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=True),
        sa.Column('listening', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('connected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('authenticated_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('user_id IS NOT NULL OR NOT listening',
                           name=op.f('ck_stream_connections_listens_once_authenticated')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_stream_connections_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stream_connections')),
    )
    op.create_index('ix_stream_connections_listening', 'stream_connections', ['user_id'],
                    postgresql_where=sa.text('listening'))
    op.create_index('ix_stream_connections_unauthenticated', 'stream_connections', ['connected_at'],
                    postgresql_where=sa.text('user_id IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_stream_connections_unauthenticated', table_name='stream_connections')
    op.drop_index('ix_stream_connections_listening', table_name='stream_connections')
    op.drop_table('stream_connections')
