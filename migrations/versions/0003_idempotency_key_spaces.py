"""idempotency key spaces: the Idempotency-Key header and client_order_id no longer share one

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column('trades', 'idempotency_key', type_=sa.String(length=300), existing_nullable=True)
    # A stored key equal to the trade's client_order_id came from the body (the header, when sent, won); any other
    # came from the header. Prefixing is injective, so the unique index holds throughout.
    op.execute("UPDATE trades SET idempotency_key = CASE WHEN idempotency_key = client_order_id "
               "THEN 'order:' || idempotency_key ELSE 'header:' || idempotency_key END "
               "WHERE idempotency_key IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE trades SET idempotency_key = regexp_replace(idempotency_key, '^(header|order):', '') "
               "WHERE idempotency_key IS NOT NULL")
    op.alter_column('trades', 'idempotency_key', type_=sa.String(length=255), existing_nullable=True)
