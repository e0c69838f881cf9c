"""Hostile input, generated rather than replayed: forged cursors, huge numbers, control characters, non-ASCII digits
and look-alike letters, deep nesting, duplicate keys. Each is refused with a 4xx in the error shape, creates
nothing, and leaves every later request unharmed (the connection pool, the cache and the worker stay sound).
Hypothesis keeps the failing examples it finds in its example database (.hypothesis/) and tries them first."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from chalicelib.adapters.database import get_database, get_engine
from chalicelib.services.unit_of_work import UnitOfWork
from tests.integration.helpers import assert_error, body, seed, trade
from tests.integration.hostile import STOCK_FIELDS, TRADE_FIELDS, Attack, attacks, b64, json_object, nested

GENERATED = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

# --- the market the attacks are aimed at, and what a sound API answers about it ------------------------------

@dataclass
class Market:
    user_id: str
    trade_ids: list[str]


@pytest.fixture(autouse=True)
def _no_rate_limit_in_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of requests per test from one key: the rate limit is tested elsewhere, and must not answer here."""
    from chalicelib.config import get_settings

    monkeypatch.setenv("RATE_LIMIT_PER_WINDOW", "1000000")
    monkeypatch.setenv("SIGNUP_LIMIT_PER_WINDOW", "1000000")
    monkeypatch.setenv("PUBLIC_LIMIT_PER_WINDOW", "1000000")
    get_settings.cache_clear()


@pytest.fixture
def market(api: Any) -> Market:
    ids = seed(api, {"alice": "10000.00", "bob": "500.00"}, {"AAPL": ("100.00", 1000), "MSFT": ("10.00", 50)})
    placed = [body(api.post("/transactions", trade(volume=volume)))["transaction_id"] for volume in (1, 2, 3)]
    return Market(ids["alice"], placed)


def counts() -> dict[str, int]:
    with get_engine().connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("users", "stocks", "trades", "outbox", "api_keys")}


def send(api: Any, attack: Attack) -> Any:
    key = api.keys["alice"] if attack.path.startswith(("/users/alice", "/transactions")) else api.admin_key
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}", **attack.headers}
    return api.raw.request(attack.method, attack.path, headers=headers, body=attack.body or b"")


def assert_sound(api: Any, market: Market, requests: int) -> None:
    """`requests` good requests, round-robin over every read, each answered exactly as the data says."""
    expected_ids = list(reversed(market.trade_ids))
    checks = [
        ("/users/alice", lambda got: got["balance"] == "10000.00" and got["available_balance"] == "9400.00"),
        (f"/users/{market.user_id}/holdings", lambda got: got == []),
        ("/transactions/alice", lambda got: [t["transaction_id"] for t in got] == expected_ids),
        (f"/transactions/{market.user_id}", lambda got: [t["transaction_id"] for t in got] == expected_ids),
        ("/transactions/alice/2000-01-01/2100-01-01", lambda got: [t["transaction_id"] for t in got] == expected_ids),
        (f"/transactions/alice/{market.trade_ids[0]}", lambda got: got["transaction_volume"] == 1),
        ("/stocks/AAPL", lambda got: got["close_price"] == "100.00" and got["volume"] == 1000),
        ("/stocks", lambda got: [s["ticker"] for s in got] == ["AAPL", "MSFT"]),
        ("/users/bob", lambda got: got["balance"] == "500.00"),
    ]
    for n in range(requests):
        path, holds = checks[n % len(checks)]
        response = api.get(path, key=api.keys["bob"] if path == "/users/bob" else api.keys["alice"])
        assert response.status_code == 200, (path, response.body)
        assert holds(body(response)), (path, body(response))


@GENERATED
@given(attack=attacks())
def test_every_hostile_request_is_a_4xx_that_changes_nothing_and_harms_no_later_request(api, market,
                                                                                      attack: Attack) -> None:
    before = counts()
    response = send(api, attack)
    assert 400 <= response.status_code < 500, (attack, response.body)
    assert_error(response, response.status_code)
    assert counts() == before
    assert_sound(api, market, 9)


@pytest.mark.parametrize("kind", ["cursor", "number", "control", "depth"])
def test_one_hostile_request_then_a_hundred_good_ones_all_correct(api, market, kind: str) -> None:
    attack = {"cursor": Attack("GET", "/transactions/alice?cursor=" + b64(
                  b"9999-12-31T23:59:59-23:59|00000000-0000-0000-0000-000000000001")),
              "number": Attack("POST", "/transactions", json_object(
                  {k: v for k, v in TRADE_FIELDS.items() if k != "transaction_volume"},
                  {"transaction_volume": "1e700000"})),
              "control": Attack("GET", "/users/ab%00c"),
              "depth": Attack("POST", "/users", nested(1000))}[kind]
    assert_error(send(api, attack), 400)
    assert_sound(api, market, 100)


def test_a_driver_error_mid_statement_discards_the_connection(api, market, monkeypatch) -> None:
    """pg8000 fails converting this timestamp after it began the exchange: that connection is out of step with the
    server, and must never serve another request. With a pool of one, every later request would reuse it."""
    monkeypatch.setenv("DB_POOL_SIZE", "1")
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    get_database.cache_clear()
    skewed = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-23, minutes=-59)))
    with pytest.raises(OverflowError), UnitOfWork() as uow:
        uow.session.execute(text("SELECT CAST(:moment AS timestamptz)"), {"moment": skewed})
    assert_sound(api, market, 100)
    get_database.cache_clear()


# --- cache keys: no name spells another user's entry ---------------------------------------------------------

TODAY = datetime.now(UTC).date()  # the victim's ranges hold today, when their trade is placed


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(start=st.dates(min_value=date(2000, 1, 1), max_value=TODAY - timedelta(days=1)),
       end=st.dates(min_value=TODAY + timedelta(days=1), max_value=date(2099, 1, 1)),
       suffix=st.sampled_from(["", "_x", "_transactions"]))
def test_no_username_reads_another_users_cached_lists(api, start: date, end: date, suffix: str) -> None:
    victim = f"v{uuid.uuid4().hex[:8]}"
    attacker = f"{victim}_{start.isoformat()}_{end.isoformat()}{suffix}"
    for username in (victim, attacker):
        assert api.post("/users", {"username": username, "balance": "1000.00"}).status_code == 201
    if api.get("/stocks/AAPL").status_code == 404:  # the first example seeds it; the database lives on
        assert api.post("/stocks", {**STOCK_FIELDS, "ticker": "AAPL", "volume": 10**6}).status_code == 201
    mine = body(api.post("/transactions", trade(user=victim, volume=1)))["transaction_id"]
    # The victim's lists are cached first, under every spelling the victim might use.
    for path in (f"/transactions/{victim}", f"/transactions/{victim}/{start}/{end}"):
        assert [t["transaction_id"] for t in body(api.get(path))] == [mine]
    for path in (f"/transactions/{attacker}", f"/transactions/{attacker}/{start}/{end}"):
        assert body(api.get(path)) == [], path


def test_a_user_id_in_any_spelling_shares_one_cached_list_and_its_refresh(api) -> None:
    ids = seed(api)
    spellings = [ids["alice"], ids["alice"].upper(), ids["alice"].replace("-", "")]
    for spelling in spellings:
        assert body(api.get(f"/transactions/{spelling}", key=api.keys["alice"])) == []
    placed = body(api.post("/transactions", trade()))["transaction_id"]
    for spelling in spellings:
        listed = body(api.get(f"/transactions/{spelling}", key=api.keys["alice"]))
        assert [t["transaction_id"] for t in listed] == [placed], spelling


# --- idempotency keys --------------------------------------------------------------------------------------------

def test_the_header_and_client_order_id_are_separate_key_spaces(api) -> None:
    seed(api)
    first = api.post("/transactions", trade(volume=1, client_order_id="order-7"))
    second = api.post("/transactions", trade(volume=2), headers={"Idempotency-Key": "order-7"})
    assert first.status_code == second.status_code == 202
    assert body(first)["transaction_id"] != body(second)["transaction_id"]
    replay = api.post("/transactions", trade(volume=2), headers={"Idempotency-Key": "order-7"})
    assert body(replay)["transaction_id"] == body(second)["transaction_id"]
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_several_idempotency_keys_in_one_request_are_refused(api) -> None:
    """API Gateway lists repeated headers in multiValueHeaders; servers join them with commas."""
    from app import app

    seed(api)
    event = {"resource": "/transactions", "path": "/transactions", "httpMethod": "POST",
             "headers": {"Content-Type": "application/json", "Idempotency-Key": "k2"},
             "multiValueHeaders": {"Content-Type": ["application/json"], "Idempotency-Key": ["k1", "k2"]},
             "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
             "stageVariables": None, "isBase64Encoded": False, "body": json.dumps(trade()),
             "requestContext": {"httpMethod": "POST", "resourcePath": "/transactions", "path": "/transactions",
                                "authorizer": {"key_id": "k", "scope": "user", "user_id": "",
                                               "username": "alice"}}}
    from devstack.lambda_context import LambdaContext

    answer = app(event, LambdaContext("api_handler"))
    assert answer["statusCode"] == 400, answer
    assert json.loads(answer["body"])["error"]["details"][0]["field"] == "Idempotency-Key"
    assert counts()["trades"] == 0


@GENERATED
@given(data=st.data())
def test_money_is_digits_alone_never_spaces_or_an_exponent(api, data) -> None:
    """The rule says ASCII digits: a money string with whitespace around it, or a JSON number in exponent notation,
    is refused (Decimal() would read either), and nothing is registered."""
    cents = data.draw(st.integers(min_value=0, max_value=10**11), label="cents")
    digits = f"{cents // 100}.{cents % 100:02d}"
    pad = st.text(alphabet=" \t\u00a0", min_size=1, max_size=3)
    spaced = data.draw(st.one_of(st.builds(lambda a: a + digits, pad), st.builds(lambda a: digits + a, pad)),
                       label="spaced")
    mantissa = data.draw(st.integers(min_value=1, max_value=99), label="mantissa")
    exponent = data.draw(st.integers(min_value=-2, max_value=6), label="exponent")
    marker = data.draw(st.sampled_from(["e", "E", "e+"]), label="marker")
    written = f"{mantissa}{marker}{exponent}".replace("+-", "-")
    for raw in (json.dumps({"username": "spacey", "balance": spaced}).encode(),
                b'{"username": "spacey", "balance": ' + written.encode() + b"}"):
        answer = api.raw.post("/users", body=raw, headers={"Content-Type": "application/json"})
        assert_error(answer, 400)
    assert api.get("/users/spacey").status_code == 404  # nobody was registered


@GENERATED
@given(name=st.from_regex(r"[a-z][a-z0-9_]{2,20}", fullmatch=True), flips=st.data())
def test_usernames_are_unique_in_any_case(api, name: str, flips) -> None:
    api.post("/users", {"username": name, "balance": "1"})
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    upper = flips.draw(st.sets(st.sampled_from(letters), min_size=1), label="upper")
    variant = "".join(c.upper() if i in upper else c for i, c in enumerate(name))
    taken = api.post("/users", {"username": variant, "balance": "1"})
    assert_error(taken, 409)
    assert json.loads(taken.body)["error"]["details"] == [{"field": "username"}]
