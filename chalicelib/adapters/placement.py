"""Placing an order in one statement, one round trip, in a transaction of its own: lock the user's row, check what
is available against `rules.LIMITS`, set the cash or shares aside, insert the trade and its outbox message. The
row locks are held only while the server runs the statement, so a user's orders queue on the lock for
microseconds rather than for a transaction's round trips.

It answers nothing when the order cannot be placed as asked (no such user or stock, not enough available, an
idempotency key seen before): the service then works out which, in a transaction that locks and reads the rows,
and answers that (a refusal, a replay, a 409, a 404), or has the desk place it again when nothing is wrong
any more. A trade with this id already written answers nothing too,
so running the statement again after a lost connection never places an order twice."""
from __future__ import annotations

import dataclasses
import functools

from sqlalchemy import Connection, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from chalicelib.adapters import database
from chalicelib.domain import records, rules
from chalicelib.domain.messages import settlement_message
from chalicelib.domain.user_ref import UserRef
from chalicelib.domain.vocabulary import Side, TradeStatus
from chalicelib.lazy import lazy

# What a buy sets aside (`rules.Order.most_it_may_cost`): its limit x volume, or else the higher of the close price
# and its stop, x volume (GREATEST skips a NULL stop).
_COST = ("COALESCE(CAST(:limit_price AS numeric), GREATEST(s.close_price, CAST(:stop_price AS numeric))) "
         "* :volume")
# How each amount `rules.LIMITS` names is read in the statement: u is the user's row, s the stock's, h the
# holding's; :volume and :limit_price are the order's.
_AMOUNTS = {
    "volume": "CAST(:volume AS bigint)",
    "cost": _COST,
    "available_cash": "u.balance - u.reserved_cash",
    "stock_volume": "s.volume",
    "available_shares": "h.quantity - h.reserved_quantity",
}


class OrderDesk:
    """The one writer of trades. Its contract: `place` has either committed the trade, its reservation and its
    outbox message together, by itself (no caller's transaction is involved), or written nothing."""

    def place(self, ticket: records.Ticket) -> records.Trade | None:
        """The trade written, or None when it could not be placed as asked (the caller finds out why)."""
        from sqlalchemy.exc import IntegrityError

        try:
            return database.alone(lambda conn: _place(conn, ticket))
        except IntegrityError:
            # A concurrent request with the same idempotency key was written first (the unique index refused
            # this one, and the statement wrote nothing).
            return None


@lazy
def get_order_desk() -> OrderDesk:
    return OrderDesk()


def _place(conn: Connection, ticket: records.Ticket) -> records.Trade | None:
    user_id = UserRef.parse(ticket.user_ref).id
    statement = _statement(ticket.side, by_id=user_id is not None, keyed=ticket.idempotency_key is not None,
                           whole_now=ticket.time_in_force is None)
    parameters = {"trade_id": ticket.trade_id, "user_ref": user_id if user_id is not None else ticket.user_ref,
                  "ticker": ticket.ticker, "volume": ticket.volume, "limit_price": ticket.limit_price,
                  "stop_price": ticket.stop_price, "order_type": ticket.order_type, "expires_at": ticket.expires_at,
                  "time_in_force": ticket.time_in_force, "client_order_id": ticket.client_order_id,
                  "idempotency_key": ticket.idempotency_key, "fingerprint": ticket.fingerprint,
                  "message": settlement_message(ticket.trade_id)}
    row = conn.execute(statement, parameters).mappings().first()
    return None if row is None else records.Trade.of_mapping(dict(row))


# Every column a trade record reads (but its user's name, which the statement adds).
RETURNED = ", ".join(field.name for field in dataclasses.fields(records.Trade) if field.name != "username")


@functools.cache
def _statement(side: Side, *, by_id: bool, keyed: bool, whole_now: bool) -> TextClause:
    # Built once per variant and process; every value travels as a bound parameter.
    limits = rules.placement_limits(side, whole_now=whole_now)
    checks = " AND ".join(f"{_AMOUNTS[needed]} <= {_AMOUNTS[cover]}" for needed, cover, _ in limits)
    # A suspended account places nothing here; the service then says why.
    user_match = ("u.id = :user_ref" if by_id else "u.username = :user_ref") + " AND NOT u.trading_suspended"
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
                                order_type, limit_price, stop_price, time_in_force, expires_at, client_order_id,
                                idempotency_key, request_fingerprint)
            SELECT :trade_id, user_id, ticker, '{side}', :volume, cash, shares, '{TradeStatus.PENDING}',
                   :order_type, :limit_price, :stop_price, :time_in_force, :expires_at, :client_order_id,
                   :idempotency_key, :fingerprint
            FROM reserved
            RETURNING {RETURNED}
        ),
        queued AS (INSERT INTO outbox (trade_id, payload) SELECT id, :message FROM trade)
        SELECT trade.*, reserved.username FROM trade JOIN reserved USING (user_id)
    """).bindparams(bindparam("message", type_=JSONB))
