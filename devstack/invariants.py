"""The invariants (docs/rules.md), checked against the database after storms, redeliveries and crashes.
Returns what broke (an empty list when all hold), so tests and benchmarks can report every violation at once."""
from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import Connection, text


def violations(conn: Connection, initial_balances: dict[str, Decimal], initial_volumes: dict[str, int],
               *, all_final: bool = True) -> list[str]:
    def rows(sql: str) -> list[Any]:
        return list(conn.execute(text(sql)))

    found = [*_negatives(rows), *_shares_conserved(rows, initial_volumes), *_money_conserved(rows, initial_balances),
             *realized_pl_adds_up(conn), *_final_trades_consistent(rows), *_fills_make_up_orders(rows),
             *_reservations_match_pending(rows), *_open_orders_hold_what_they_need(rows)]
    if all_final:
        pending = rows("SELECT count(*) FROM trades WHERE status = 'pending'")[0][0]
        if pending:
            found.append(f"{pending} trades still pending")
    return found


Rows = Any  # (sql) -> the result's rows


def _negatives(rows: Rows) -> list[str]:
    found = []
    for table, column in (("users", "balance"), ("users", "reserved_cash"), ("holdings", "quantity"),
                          ("holdings", "reserved_quantity"), ("stocks", "volume")):
        negative = rows(f"SELECT count(*) FROM {table} WHERE {column} < 0")[0][0]
        if negative:
            found.append(f"{negative} {table} rows with negative {column}")
    return found


def _shares_conserved(rows: Rows, initial_volumes: dict[str, int]) -> list[str]:
    """Per ticker, stock volume on offer plus all holdings is constant between bars: equal to the total the
    latest bar fixed, and to the initial volume while the stock has had no bar since its ingest."""
    held = dict(rows("SELECT ticker, COALESCE(SUM(quantity), 0) FROM holdings GROUP BY ticker"))
    found = []
    for ticker, volume, total, bars in rows("SELECT s.ticker, s.volume, s.total_shares, "
                                            "(SELECT count(*) FROM price_bars b WHERE b.ticker = s.ticker) "
                                            "FROM stocks s"):
        in_market = volume + held.get(ticker, 0)
        if in_market != total:
            found.append(f"{ticker}: stock volume {volume} + holdings {held.get(ticker, 0)} != total {total}")
        if ticker in initial_volumes and bars <= 1 and in_market != initial_volumes[ticker]:
            found.append(f"{ticker}: stock volume {volume} + holdings {held.get(ticker, 0)} "
                         f"!= initial {initial_volumes[ticker]}")
    return found


def _money_conserved(rows: Rows, initial_balances: dict[str, Decimal]) -> list[str]:
    """Each balance is its starting cash plus deposits, less withdrawals, less filled buys, plus filled sells (and
    the starting cash is what the caller registered, where it says)."""
    accounts = rows("""
        SELECT u.username, u.balance, u.starting_balance,
               COALESCE((SELECT SUM(CASE WHEN c.kind = 'deposit' THEN c.amount ELSE -c.amount END)
                         FROM cash_movements c WHERE c.user_id = u.id), 0),
               COALESCE((SELECT SUM(CASE WHEN f.side = 'sell' THEN f.amount ELSE -f.amount END)
                         FROM fills f WHERE f.user_id = u.id), 0)
        FROM users u""")
    found = []
    for username, balance, starting, moved, traded in accounts:
        if balance != starting + moved + traded:
            found.append(f"{username}: balance {balance} != starting {starting} + deposits - withdrawals {moved} "
                         f"+ filled flows {traded}")
        if username in initial_balances and starting != initial_balances[username]:
            found.append(f"{username}: starting balance {starting} != registered {initial_balances[username]}")
    return found


def realized_pl_adds_up(conn: Connection) -> list[str]:
    """Per user and ticker, to the cent: filled sells less filled buys == realized P/L less the cost basis of the
    shares still held (each sell realizes its proceeds less the cost of what it sold; the rest of what the buys
    cost is still in the position). With market value added to both sides: realized + unrealized P/L equals
    proceeds + market value - cost, so P/L sums to the cent."""
    rows = conn.execute(text("""
        SELECT h.user_id, h.ticker, h.quantity, h.average_entry_price,
               COALESCE(SUM(CASE WHEN f.side = 'sell' THEN f.amount ELSE -f.amount END), 0) AS flows,
               COALESCE(SUM(f.realized_pl), 0) AS realized
        FROM holdings h LEFT JOIN fills f ON f.user_id = h.user_id AND f.ticker = h.ticker
        GROUP BY h.user_id, h.ticker, h.quantity, h.average_entry_price""")).all()
    found = []
    for row in rows:
        with localcontext() as exact:
            exact.prec = 60
            derived = (row.realized - row.average_entry_price * row.quantity).quantize(Decimal("0.01"))
        if derived != row.flows:
            found.append(f"{row.user_id}/{row.ticker}: realized {row.realized} - cost basis "
                         f"{row.average_entry_price} x {row.quantity} = {derived} != filled flows {row.flows}")
    return found


def _final_trades_consistent(rows: Rows) -> list[str]:
    """A final order holds nothing; a filled one filled whole; an unfilled one has no price; a rejected one a
    reason; no fill broke its order's limit."""
    bad_final = rows("""
        SELECT count(*) FROM trades WHERE
            (status <> 'pending' AND (reserved_cash <> 0 OR reserved_quantity <> 0))
         OR (status = 'settled' AND (filled_qty <> volume OR settled_at IS NULL))
         OR (filled_qty = 0 AND (price IS NOT NULL OR total IS NOT NULL))
         OR (status = 'rejected' AND (reason IS NULL OR filled_qty <> 0))""")[0][0]
    beyond_limit = rows("""
        SELECT count(*) FROM fills f JOIN trades t ON t.id = f.trade_id
        WHERE t.limit_price IS NOT NULL
          AND CASE WHEN t.side = 'buy' THEN f.price > t.limit_price ELSE f.price < t.limit_price END""")[0][0]
    found = [f"{bad_final} final trades with inconsistent holdings, fills, price, reason or times"] if bad_final else []
    return found + ([f"{beyond_limit} fills beyond their order's limit"] if beyond_limit else [])


def _fills_make_up_orders(rows: Rows) -> list[str]:
    """Each order's filled quantity, total and realized P/L are the sums of its fills."""
    bad = rows("""
        SELECT t.id, t.filled_qty, t.total, t.realized_pl, f.quantity, f.amount, f.realized
        FROM trades t LEFT JOIN (SELECT trade_id, SUM(quantity) AS quantity, SUM(amount) AS amount,
                                        SUM(realized_pl) AS realized FROM fills GROUP BY trade_id) f
          ON f.trade_id = t.id
        WHERE t.filled_qty <> COALESCE(f.quantity, 0) OR t.total IS DISTINCT FROM f.amount
           OR t.realized_pl IS DISTINCT FROM f.realized""")
    return [f"{trade_id}: filled {filled} total {total} realized {realized} != its fills' {quantity} {amount} "
            f"{summed}" for trade_id, filled, total, realized, quantity, amount, summed in bad]


def _open_orders_hold_what_they_need(rows: Rows) -> list[str]:
    """An open sell holds the shares it has still to sell; an open limit buy its limit x what it has still to
    buy (a market or stop buy holds its placement price x what is left)."""
    bad = rows("""
        SELECT count(*) FROM trades WHERE status = 'pending' AND (
            (side = 'sell' AND (reserved_quantity <> volume - filled_qty OR reserved_cash <> 0))
         OR (side = 'buy' AND (reserved_quantity <> 0
                               OR (limit_price IS NOT NULL AND reserved_cash <> limit_price * (volume - filled_qty)))))
        """)[0][0]
    return [f"{bad} open orders holding other than what they still need"] if bad else []


def _reservations_match_pending(rows: Rows) -> list[str]:
    """What users and holdings have set aside is exactly what their open orders still hold."""
    reserved = rows("""
        SELECT u.username, u.reserved_cash,
               COALESCE(SUM(t.reserved_cash) FILTER (WHERE t.status = 'pending'), 0)
        FROM users u LEFT JOIN trades t ON t.user_id = u.id GROUP BY u.username, u.reserved_cash""")
    found = [f"{username}: reserved cash {on_user} != pending buys' reservations {on_trades}"
             for username, on_user, on_trades in reserved if on_user != on_trades]
    shares = rows("""
        SELECT h.user_id, h.ticker, h.reserved_quantity,
               COALESCE((SELECT SUM(t.reserved_quantity) FROM trades t WHERE t.user_id = h.user_id
                         AND t.ticker = h.ticker AND t.status = 'pending'), 0)
        FROM holdings h""")
    found += [f"{user_id}/{ticker}: reserved shares {on_holding} != pending sells' {on_trades}"
              for user_id, ticker, on_holding, on_trades in shares if on_holding != on_trades]
    return found
