"""Growth: the first page of GET /transactions/{user_id} and of a range query as one user's history grows from
10^3 to 10^6 trades (cache missed every time), next to the same at 10^3; the plans the database chose are kept,
and must read the (user_id, created_at, id) index rather than the table."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bench.figures import Figure, Spread
from bench.stack import BenchStack

ORIGIN = datetime(2026, 1, 1, tzinfo=UTC)


def run(stack: BenchStack, quick: bool) -> list[Figure]:
    from sqlalchemy import event

    from chalicelib.adapters.cache import get_cache, transaction_lists
    from chalicelib.adapters.database import get_engine
    from chalicelib.api.classic.shapes import TradePageQuery
    from chalicelib.api.parameters import PATH_PARAMETERS
    from chalicelib.services import history
    from chalicelib.services.unit_of_work import UnitOfWork

    sizes = (1_000, 10_000) if quick else (1_000, 100_000, 1_000_000)
    runs = 5 if quick else 21
    with stack.database("growth"):
        user_id = _seed()
        cache = get_cache()
        statements: list[tuple[str, Any]] = []
        event.listen(get_engine(), "before_cursor_execute",
                     lambda conn, cursor, sql, params, *_: statements.append((sql, params)))
        timings: dict[int, dict[str, list[float]]] = {}
        plans: dict[int, dict[str, Any]] = {}
        have = 0
        for size in sizes:
            _grow(user_id, have, size)
            have = size
            # The range holds about a day of trades, in the middle of the history.
            middle = ORIGIN + timedelta(minutes=size // 2)
            bounds = (middle.isoformat(), (middle + timedelta(days=1)).isoformat())
            reads = {
                "first page": lambda: history.list_for_user("grower", TradePageQuery(), UnitOfWork()),
                "range, first page": lambda bounds=bounds: history.list_for_user(
                    "grower", TradePageQuery(), UnitOfWork(),
                    (PATH_PARAMETERS["start"].parse(bounds[0]), PATH_PARAMETERS["end"].parse(bounds[1]))),
            }
            timings[size], plans[size] = {}, {}
            for name, read in reads.items():
                drop = partial(cache.invalidate, families=transaction_lists("grower"))
                timings[size][name] = _cold_reads(read, runs, drop, statements)
                plans[size][name] = _plan(*statements[-1])
    figures = []
    for name in ("first page", "range, first page"):
        for size in sizes[1:]:
            scans = plans[size][name]
            figures.append(Figure("growth", f"{name} at {size:,} trades (cache miss)", "ms",
                                  Spread.of(timings[size][name]), f"same at {sizes[0]:,}",
                                  Spread.of(timings[sizes[0]][name]), target=2.0 if size == sizes[-1] else None,
                                  details={"plan_nodes": scans, "uses_index": _uses_index(scans)}))
    return figures


def _cold_reads(read: Callable[[], Any], runs: int, drop_cache: Callable[[], None],
                statements: list[tuple[str, Any]]) -> list[float]:
    """Milliseconds of each of `runs` reads, each after the cache was dropped; `statements` ends with the read's."""
    samples = []
    for _ in range(runs):
        drop_cache()
        statements.clear()
        started = time.perf_counter()
        page = read()
        samples.append((time.perf_counter() - started) * 1000)
        assert len(page.items) == 100
    return samples


def _seed() -> uuid.UUID:
    from sqlalchemy import text

    from chalicelib.adapters.database import get_engine

    user_id = uuid.uuid4()
    with get_engine().begin() as conn:
        conn.execute(text("INSERT INTO users (id, username, balance, starting_balance) VALUES (:id, 'grower', 0, 0), "
                          "(gen_random_uuid(), 'neighbour', 0, 0)"), {"id": user_id})
        conn.execute(text("INSERT INTO stocks (ticker, open_price, close_price, high, low, volume, total_shares) "
                          "VALUES ('GROW', 1, 1, 1, 1, 0, 0)"))
    return user_id


def _grow(user_id: uuid.UUID, have: int, size: int) -> None:
    """Settled trades a minute apart for the user, and a tenth as many for a neighbour, so the index has to pick
    one user's rows out of many."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from chalicelib.config import get_settings

    # Not the app's engine: its statement and socket timeouts are sized for requests, not for a million rows.
    engine = create_engine(get_settings().database_url, poolclass=NullPool)
    with engine.begin() as conn:
        for username, start, stop in (("grower", have, size), ("neighbour", have // 10, size // 10)):
            conn.execute(text("""
                WITH written AS (
                    INSERT INTO trades (id, user_id, ticker, side, volume, status, price, total, filled_qty,
                                        filled_avg_price, created_at, settled_at)
                    SELECT gen_random_uuid(), u.id, 'GROW', 'buy', 1, 'settled', 1, 1, 1, 1,
                           CAST(:origin AS timestamptz) + n * interval '1 minute',
                           CAST(:origin AS timestamptz) + n * interval '1 minute'
                    FROM users u, generate_series(CAST(:start AS int), CAST(:stop AS int) - 1) AS n
                    WHERE u.username = :username
                    RETURNING id, user_id, settled_at)
                INSERT INTO fills (id, trade_id, user_id, ticker, side, quantity, price, amount, created_at)
                SELECT gen_random_uuid(), id, user_id, 'GROW', 'buy', 1, 1, 1, settled_at FROM written"""),
                {"origin": ORIGIN, "start": start, "stop": stop, "username": username})
        conn.execute(text("ANALYZE trades"))
    engine.dispose()


def _plan(sql: str, params: Any) -> list[str]:
    """The plan nodes PostgreSQL picks for a statement the service ran, with the same parameters."""
    from chalicelib.adapters.database import get_engine

    raw = get_engine().raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    finally:
        raw.close()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(f"{node['Node Type']}{' on ' + node['Relation Name'] if 'Relation Name' in node else ''}"
                     f"{' using ' + node['Index Name'] if 'Index Name' in node else ''}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return nodes


def _uses_index(nodes: list[str]) -> bool:
    return any("ix_trades_user_id_created_at_id" in n for n in nodes) and not any(
        n.startswith("Seq Scan on trades") for n in nodes)
