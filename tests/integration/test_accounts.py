"""An account you can reconcile, over the API against real PostgreSQL and Redis: positions with average entry
price, cost basis, market value and P/L; equity and buying power; deposits and withdrawals in a journal; one
activity feed; and a property test that interleaves all of it and checks the balance equation and P/L to the cent."""
from __future__ import annotations

import itertools
import threading
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from chalicelib.adapters.database import get_engine
from chalicelib.config import get_settings
from devstack.invariants import violations
from tests.integration.helpers import assert_error, body, seed, trade
from tests.integration.test_orders import bar, settle

CENT = Decimal("0.01")


def position(api, ticker: str = "AAPL", user: str = "alice") -> dict:
    return next(p for p in body(api.get(f"/users/{user}/holdings")) if p["ticker"] == ticker)


def test_a_position_reads_its_average_entry_price_cost_basis_market_value_and_pl(api) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    settle(body(api.post("/transactions", trade(volume=10)))["transaction_id"])
    api.post("/stocks/AAPL/bars", bar("12.00"), key=api.admin_key)
    settle(body(api.post("/transactions", trade(volume=20)))["transaction_id"])
    # 10 at 10.00 and 20 at 12.00: 340.00 for 30 shares, 11.333... each.
    assert position(api) == {"ticker": "AAPL", "quantity": 30, "available": 30, "average_entry_price": "11.33",
                             "current_price": "12.00", "cost_basis": "340.00", "market_value": "360.00",
                             "unrealized_pl": "20.00", "unrealized_plpc": "0.058824"}

    sell = body(api.post("/transactions", trade(side="sell", volume=7)))["transaction_id"]
    api.post("/stocks/AAPL/bars", bar("13.00", ago_s=-1), key=api.admin_key)
    settle(sell)
    sold = body(api.get(f"/transactions/alice/{sell}"))
    assert (sold["transaction_price"], sold["realized_pl"]) == ("13.00", "11.67")  # 7 x (13 - 11.333...)
    after = position(api)
    assert after["average_entry_price"] == "11.33" and after["quantity"] == 23  # a sell leaves the average
    assert (after["cost_basis"], after["market_value"], after["unrealized_pl"]) == ("260.67", "299.00", "38.33")
    user = body(api.get("/users/alice"))
    assert user["equity"] == f"{Decimal(user['balance']) + Decimal('299.00'):.2f}"
    assert user["buying_power"] == user["available_balance"]

    settle(body(api.post("/transactions", trade(side="sell", volume=23)))["transaction_id"])
    assert body(api.get("/users/alice/holdings")) == []  # closed: a later buy starts a new average
    settle(body(api.post("/transactions", trade(volume=1)))["transaction_id"])
    assert position(api)["average_entry_price"] == "13.00"
    buys = body(api.get("/transactions/alice?status=settled"))
    assert all(t["realized_pl"] is None for t in buys if t["transaction_type"] == "buy")


def test_a_price_move_refreshes_the_cached_equity_of_every_holder(api) -> None:
    seed(api, users={"alice": "1000.00", "bob": "1000.00"}, stocks={"AAPL": ("10.00", 1000)})
    for user in ("alice", "bob"):
        settle(body(api.post("/transactions", trade(user=user, volume=10)))["transaction_id"])
    assert [body(api.get(f"/users/{u}"))["equity"] for u in ("alice", "bob")] == ["1000.00", "1000.00"]  # cached
    api.post("/stocks/AAPL/bars", bar("15.00"), key=api.admin_key)
    assert [body(api.get(f"/users/{u}"))["equity"] for u in ("alice", "bob")] == ["1050.00", "1050.00"]


def test_deposits_and_withdrawals_move_the_balance_and_are_journaled(api) -> None:
    seed(api, users={"alice": "100.00"})
    deposited = api.post("/users/alice/deposits", {"amount": "50.25"})
    assert deposited.status_code == 201
    answer = body(deposited)
    assert (answer["movement"]["type"], answer["movement"]["amount"], answer["balance"]) == (
        "deposit", "50.25", "150.25")
    withdrawn = body(api.post("/users/alice/withdrawals", {"amount": 20}))
    assert (withdrawn["movement"]["type"], withdrawn["balance"]) == ("withdrawal", "130.25")
    user = body(api.get("/users/alice"))
    assert user["balance"] == user["available_balance"] == user["equity"] == "130.25"
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT kind, amount FROM cash_movements ORDER BY created_at")).all() == [
            ("deposit", Decimal("50.25")), ("withdrawal", Decimal("20.00"))]


def test_a_withdrawal_needs_the_amount_available_and_refused_writes_nothing(api) -> None:
    seed(api, users={"alice": "1000.00"}, stocks={"AAPL": ("10.00", 1000)})
    api.post("/transactions", trade(volume=90))  # 900.00 set aside
    error = assert_error(api.post("/users/alice/withdrawals", {"amount": "100.01"}), 400, "insufficient_funds")
    assert error["details"] == [{"field": "amount", "reason": "insufficient_funds"}]
    assert api.post("/users/alice/withdrawals", {"amount": "100.00"}).status_code == 201
    user = body(api.get("/users/alice"))
    assert (user["balance"], user["available_balance"]) == ("900.00", "0.00")
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cash_movements")).scalar() == 1


@pytest.mark.parametrize("amount", ["0", "0.00", "-1", "1.001", "ten", None, True, "1e3", 10**12])
@pytest.mark.parametrize("kind", ["deposits", "withdrawals"])
def test_a_bad_amount_is_a_400_naming_it(api, kind: str, amount: object) -> None:
    seed(api)
    error = assert_error(api.post(f"/users/alice/{kind}", {"amount": amount}), 400)
    assert "amount" in {d["field"] for d in error["details"]}
    assert body(api.get("/users/alice"))["balance"] == "10000.00"


@pytest.mark.parametrize("kind", ["deposits", "withdrawals"])
def test_an_idempotency_key_makes_one_entry_and_replays_it(api, kind: str) -> None:
    seed(api)
    first = api.post(f"/users/alice/{kind}", {"amount": "10"}, {"Idempotency-Key": "move-1"})
    again = api.post(f"/users/alice/{kind}", {"amount": "10.00"}, {"Idempotency-Key": "move-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert body(again)["movement"] == body(first)["movement"]
    assert_error(api.post(f"/users/alice/{kind}", {"amount": "11"}, {"Idempotency-Key": "move-1"}), 409, "conflict")
    other = "withdrawals" if kind == "deposits" else "deposits"
    assert_error(api.post(f"/users/alice/{other}", {"amount": "10"}, {"Idempotency-Key": "move-1"}), 409)
    expected = Decimal("10000.00") + (10 if kind == "deposits" else -10)
    assert body(api.get("/users/alice"))["balance"] == f"{expected:.2f}"


def test_concurrent_withdrawals_never_overdraw(api) -> None:
    seed(api, users={"alice": "100.00"})
    answers: list[int] = []

    def withdraw() -> None:
        answers.append(api.post("/users/alice/withdrawals", {"amount": "60"}).status_code)

    threads = [threading.Thread(target=withdraw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == [201, 400, 400, 400]
    assert body(api.get("/users/alice"))["balance"] == "40.00"


def test_the_activity_feed_lists_fills_rejections_cancels_and_cash_newest_first(api) -> None:
    seed(api, users={"alice": "1000.00"}, stocks={"AAPL": ("10.00", 1000)})
    deposit = body(api.post("/users/alice/deposits", {"amount": "5"}))["movement"]["id"]
    filled = body(api.post("/transactions", trade(volume=10)))["transaction_id"]
    settle(filled)
    assert [a["type"] for a in body(api.get("/users/alice/activities"))] == ["fill", "deposit"]  # cached
    rejected = body(api.post("/transactions", trade(volume=1, limit_price="1.00")))["transaction_id"]
    settle(rejected)
    canceled = body(api.post("/transactions", trade(volume=1)))["transaction_id"]
    api.delete(f"/transactions/alice/{canceled}")
    body(api.post("/transactions", trade(volume=1)))  # pending: not an activity yet
    withdrawal = body(api.post("/users/alice/withdrawals", {"amount": "1.50"}))["movement"]["id"]

    feed = body(api.get("/users/alice/activities"))
    assert [(a["type"], a["transaction_id"] or a["id"]) for a in feed] == [
        ("withdrawal", withdrawal), ("cancel", canceled), ("rejection", rejected), ("fill", filled),
        ("deposit", deposit)]
    assert feed[0]["amount"] == "1.50" and feed[3]["amount"] == "100.00" and feed[3]["price"] == "10.00"
    assert (feed[2]["amount"], feed[2]["reason"]) == (None, "limit_not_met")
    assert all(a["timestamp"] >= b["timestamp"] for a, b in itertools.pairwise(feed))

    first = api.get("/users/alice/activities?limit=2")
    rest = body(api.get(f"/users/alice/activities?limit=10&cursor={first.headers['X-Next-Cursor']}"))
    assert [a["id"] for a in body(first) + rest] == [a["id"] for a in feed]
    window = body(api.get(f"/users/alice/activities?start={feed[3]['timestamp']}&end={feed[1]['timestamp']}"))
    assert [a["transaction_id"] for a in window] == [canceled, rejected, filled]
    assert assert_error(api.get("/users/alice/activities?start=2026-02-01&end=2026-01-01"), 400)


def test_activities_are_the_owners_and_an_admins_to_read(api, admin_key: str) -> None:
    seed(api, users={"alice": "10.00", "bob": "10.00"})
    api.post("/users/alice/deposits", {"amount": "1"})
    assert len(body(api.get("/users/alice/activities", key=admin_key))) == 1
    assert_error(api.get("/users/alice/activities", key=api.keys["bob"]), 403, "forbidden")
    assert_error(api.post("/users/alice/deposits", {"amount": "1"}, key=admin_key), 403, "forbidden")


# What an order asks beyond its side and size: nothing (the classic market order), a limit, a time in force, or a
# stop (which rests, so day or gtc).
PRICES = st.sampled_from(["8.00", "10.50", "14.99"])
ORDER_TERMS = st.one_of(
    st.none(),
    st.fixed_dictionaries({"limit_price": PRICES}),
    st.fixed_dictionaries({"time_in_force": st.sampled_from(["day", "gtc", "ioc", "fok"])},
                          optional={"limit_price": PRICES}),
    st.fixed_dictionaries({"order_type": st.just("stop"), "stop_price": PRICES,
                           "time_in_force": st.sampled_from(["day", "gtc"])}),
    st.fixed_dictionaries({"order_type": st.just("stop_limit"), "stop_price": PRICES, "limit_price": PRICES,
                           "time_in_force": st.sampled_from(["day", "gtc"])}),
)
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 30), ORDER_TERMS),
    st.tuples(st.just("sell"), st.integers(1, 30), ORDER_TERMS),
    st.tuples(st.just("settle"), st.integers(1, 5), st.none()),
    st.tuples(st.just("cancel"), st.integers(0, 10), st.none()),
    st.tuples(st.just("deposit"), st.decimals(min_value=CENT, max_value=500, places=2), st.none()),
    st.tuples(st.just("withdraw"), st.decimals(min_value=CENT, max_value=500, places=2), st.none()),
    st.tuples(st.just("bar"), st.decimals(min_value=1, max_value=20, places=2), st.integers(0, 200)),
), min_size=1, max_size=25)
_examples = itertools.count()


@given(operations=OPERATIONS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_interleaving_keeps_the_balance_equation_and_pl_to_the_cent(api, monkeypatch, operations) -> None:
    monkeypatch.setenv("SIGNUP_LIMIT_PER_WINDOW", "100000")
    monkeypatch.setenv("RATE_LIMIT_PER_WINDOW", "100000")
    monkeypatch.setenv("PUBLIC_LIMIT_PER_WINDOW", "100000")
    get_settings.cache_clear()
    n = next(_examples)
    user, ticker = f"prop{n}", f"P{n}"
    seed(api, users={user: "1000.00"}, stocks={ticker: ("10.00", 500)})
    pending: list[str] = []
    moments = itertools.count(1)
    for op, amount, extra in operations:
        if op in ("buy", "sell"):
            order = trade(user=user, ticker=ticker, side=op, volume=amount, **(extra or {}))
            answer = api.post("/transactions", order)
            assert answer.status_code in (202, 400), answer.body
            if answer.status_code == 202:
                pending.append(body(answer)["transaction_id"])
        elif op == "settle" and pending:
            batch, pending[:] = pending[:amount], pending[amount:]
            settle(*batch)
        elif op == "cancel" and pending:
            trade_id = pending.pop(amount % len(pending))
            assert api.delete(f"/transactions/{user}/{trade_id}").status_code == 200
        elif op in ("deposit", "withdraw"):
            answer = api.post(f"/users/{user}/{op}s".replace("withdraws", "withdrawals"), {"amount": str(amount)})
            assert answer.status_code in ((201,) if op == "deposit" else (201, 400)), answer.body
        elif op == "bar":
            stamp = bar(str(amount), volume=extra, ago_s=-next(moments) / 1000)
            assert api.post(f"/stocks/{ticker}/bars", stamp, key=api.admin_key).status_code == 201
    if pending:
        settle(*pending)
    assert api.delete(f"/transactions/{user}").status_code == 200  # what rests is canceled: every order is final

    with get_engine().connect() as conn:
        assert violations(conn, {}, {}) == []
        flows, realized = conn.execute(text("""
            SELECT COALESCE(SUM(CASE WHEN side = 'sell' THEN amount ELSE -amount END), 0), COALESCE(SUM(realized_pl), 0)
            FROM fills f JOIN users u ON u.id = f.user_id WHERE u.username = :u"""), {"u": user}).one()
    held = [p for p in body(api.get(f"/users/{user}/holdings")) if p["ticker"] == ticker]
    market_value = Decimal(held[0]["market_value"]) if held else Decimal(0)
    unrealized = Decimal(held[0]["unrealized_pl"]) if held else Decimal(0)
    with localcontext() as exact:
        exact.prec = 60
        # Unrounded, realized + unrealized P/L is exactly proceeds + market value - cost: to the cent once rounded.
        cost_basis = Decimal(0)
        if held:
            with get_engine().connect() as conn:
                cost_basis = conn.execute(text(
                    "SELECT average_entry_price * quantity FROM holdings h JOIN users u ON u.id = h.user_id "
                    "WHERE u.username = :u"), {"u": user}).scalar()
        assert (realized + market_value - cost_basis).quantize(CENT) == flows + market_value
        # As shown (each figure rounded half-even once), the sum is off by at most half a cent per figure.
        shown = [Decimal(t["realized_pl"]) for t in body(api.get(f"/transactions/{user}?limit=1000"))
                 if t["realized_pl"] is not None]
        assert abs(sum(shown) + unrealized - (flows + market_value)) <= CENT / 2 * (len(shown) + 1)
    user_view = body(api.get(f"/users/{user}"))
    assert Decimal(user_view["equity"]) == Decimal(user_view["balance"]) + market_value
