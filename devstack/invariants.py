"""The invariants (docs/rules.md), checked against the database after storms, redeliveries and crashes.
Returns what broke (an empty list when all hold), so tests and benchmarks can report every violation at once."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text


def violations(conn: Connection, initial_balances: dict[str, Decimal], initial_volumes: dict[str, int],
               *, all_final: bool = True) -> list[str]:
    def rows(sql: str) -> list[Any]:
        return list(conn.execute(text(sql)))

    found = [*_negatives(rows), *_shares_conserved(rows, initial_volumes), *_money_conserved(rows, initial_balances),
             *_final_trades_consistent(rows), *_reservations_match_pending(rows)]
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
    """Each balance is its starting cash minus settled buys plus settled sells."""
    flows = dict(rows("""
        SELECT u.username,
               COALESCE(SUM(CASE WHEN t.side = 'sell' THEN t.total ELSE -t.total END)
                        FILTER (WHERE t.status = 'settled'), 0)
        FROM users u LEFT JOIN trades t ON t.user_id = u.id GROUP BY u.username"""))
    found = [f"{username}: balance {balance} != initial {initial_balances[username]} "
             f"+ settled flows {flows.get(username, 0)}"
             for username, balance in rows("SELECT username, balance FROM users")
             if username in initial_balances and balance != initial_balances[username] + flows.get(username, 0)]
    total = rows("SELECT COALESCE(SUM(balance), 0) FROM users")[0][0]
    if total - sum(flows.values(), Decimal(0)) != sum(initial_balances.values(), Decimal(0)):
        found.append(f"sum of balances {total} - settled flows != sum of initial balances")
    return found


def _final_trades_consistent(rows: Rows) -> list[str]:
    bad_final = rows("""
        SELECT count(*) FROM trades WHERE
            (status = 'settled' AND (price IS NULL OR total <> price * volume OR settled_at IS NULL
                                     OR (limit_price IS NOT NULL AND CASE WHEN side = 'buy' THEN price > limit_price
                                                                           ELSE price < limit_price END)))
         OR (status = 'rejected' AND (reason IS NULL OR total IS NOT NULL))
         OR (status = 'canceled' AND (canceled_at IS NULL OR total IS NOT NULL OR price IS NOT NULL
                                      OR settled_at IS NOT NULL))""")[0][0]
    return [f"{bad_final} final trades with inconsistent price, total, limit, reason or times"] if bad_final else []


def _reservations_match_pending(rows: Rows) -> list[str]:
    """What users and holdings have set aside is exactly what their pending trades reserved."""
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
