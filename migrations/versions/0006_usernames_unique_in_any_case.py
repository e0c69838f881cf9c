"""usernames are unique whatever their case: `ALICE1` cannot be registered beside `alice1`

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint('uq_users_username', 'users', type_='unique')
    op.execute("CREATE UNIQUE INDEX uq_users_lower_username ON users (lower(username))")


def downgrade() -> None:
    op.drop_index('uq_users_lower_username', table_name='users')
    op.create_unique_constraint('uq_users_username', 'users', ['username'])
