"""Placing an order in one statement, one round trip, in a transaction of its own: lock the user's row, check what
is available against `rules.LIMITS`, set the cash or shares aside, insert the trade and its outbox message. The
row locks are held only while the server runs the statement, so a user's orders queue on the lock for
microseconds rather than for a transaction's round trips.

It answers nothing when the order cannot be placed as asked (no such user or stock, not enough available, an
idempotency key seen before): the service then works out which, in a transaction that locks and reads the rows,
and answers that (a refusal, a replay, a 409, a 404). A trade with this id already written answers nothing too,
so running the statement again after a lost connection never places an order twice."""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from chalicelib.domain import rules
from chalicelib.domain.vocabulary import Side, TimeInForce, TradeStatus

# What a buy sets aside (`rules.Order.most_it_may_cost`): its limit x volume, or the close price x volume.
_COST = "COALESCE(CAST(:limit_price AS numeric), s.close_price) * :volume"
# How each amount `rules.LIMITS` names is read in the statement: u is the user's row, s the stock's, h the
# holding's; :volume and :limit_price are the order's.
_AMOUNTS = {
    "volume": "CAST(:volume AS bigint)",
    "cost": _COST,
    "available_cash": "u.balance - u.reserved_cash",
    "stock_volume": "s.volume",
    "available_shares": "h.quantity - h.reserved_quantity",
}


@dataclass(frozen=True)
class PlacedRow:
    """The trade as written, with its user's name (for the answer)."""

    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    ticker: str
    side: str
    volume: int
    reserved_cash: Decimal
    reserved_quantity: int
    status: str
    client_order_id: str | None
    created_at: datetime
    limit_price: Decimal | None
    time_in_force: str
    price: None = None
    total: None = None
    reason: None = None
    settled_at: None = None
    canceled_at: None = None
    realized_pl: None = None


def place(conn: Connection, *, trade_id: uuid.UUID, user_ref: str, ticker: str, side: Side, volume: int,
          limit_price: Decimal | None, time_in_force: TimeInForce, client_order_id: str | None,
          idempotency_key: str | None, fingerprint: str, message: dict[str, Any]) -> PlacedRow | None:
    """The trade written, or None when it could not be placed as asked (the caller finds out why)."""
    try:
        user_id: uuid.UUID | None = uuid.UUID(user_ref)
    except ValueError:
        user_id = None
    statement = _statement(side, by_id=user_id is not None, keyed=idempotency_key is not None)
    parameters = {"trade_id": trade_id, "user_ref": user_id if user_id is not None else user_ref,
                  "ticker": ticker, "volume": volume, "limit_price": limit_price, "time_in_force": time_in_force,
                  "client_order_id": client_order_id,
                  "idempotency_key": idempotency_key, "fingerprint": fingerprint, "message": message}
    row = conn.execute(statement, parameters).mappings().first()
    return None if row is None else PlacedRow(**row)


@functools.cache
def _statement(side: Side, *, by_id: bool, keyed: bool) -> TextClause:
    # Built once per variant and process; every value travels as a bound parameter.
    checks = " AND ".join(f"{_AMOUNTS[needed]} <= {_AMOUNTS[cover]}" for needed, cover, _ in rules.LIMITS[side])
    user_match = "u.id = :user_ref" if by_id else "u.username = :user_ref"
    first_time = "NOT EXISTS (SELECT 1 FROM trades t WHERE t.id = :trade_id)"
    if keyed:
        first_time += (" AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.user_id = u.id"
                       " AND t.idempotency_key = :idempotency_key)")
    if side == Side.BUY:
        reserve = f"""
        reserved AS (
            UPDATE users u SET reserved_cash = u.reserved_cash + {_COST}
            FROM s
            WHERE {user_match} AND {checks} AND {first_time}
            RETURNING u.id AS user_id, u.username, s.ticker, {_COST} AS cash, 0::bigint AS shares
        )"""
    else:
        # The user's row is locked as a buy locks it, so a user's orders are stamped in the order they were accepted.
        reserve = f"""
        u AS (SELECT u.id, u.username FROM users u WHERE {user_match} FOR NO KEY UPDATE),
        reserved AS (
            UPDATE holdings h SET reserved_quantity = h.reserved_quantity + :volume
            FROM u, s
            WHERE h.user_id = u.id AND h.ticker = s.ticker AND {checks} AND {first_time}
            RETURNING u.id AS user_id, u.username, s.ticker, 0::numeric AS cash, CAST(:volume AS bigint) AS shares
        )"""
    return text(f"""
        WITH s AS (SELECT ticker, close_price, volume FROM stocks WHERE ticker = :ticker),
        {reserve},
        trade AS (
            INSERT INTO trades (id, user_id, ticker, side, volume, reserved_cash, reserved_quantity, status,
                                limit_price, time_in_force, client_order_id, idempotency_key, request_fingerprint)
            SELECT :trade_id, user_id, ticker, '{side}', :volume, cash, shares, '{TradeStatus.PENDING}',
                   :limit_price, :time_in_force, :client_order_id, :idempotency_key, :fingerprint
            FROM reserved
            RETURNING id, user_id, ticker, side, volume, reserved_cash, reserved_quantity, status,
                      limit_price, time_in_force, client_order_id, created_at
        ),
        queued AS (INSERT INTO outbox (trade_id, payload) SELECT id, :message FROM trade)
        SELECT trade.*, reserved.username FROM trade JOIN reserved USING (user_id)
    """).bindparams(bindparam("message", type_=JSONB))
