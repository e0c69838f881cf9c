"""POST /users and GET /users/{username} through Chalice's API Gateway emulation, on real PostgreSQL and Redis."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from chalicelib.adapters.database import get_engine
from tests.integration.helpers import answer_key, assert_error, body, cached_answer, error_fields


@pytest.mark.parametrize("path", ["/users", "/users/"])
def test_register_answers_201_with_the_older_shape(api, path: str) -> None:
    response = api.post(path, {"username": "alice", "balance": 1000})
    assert response.status_code == 201
    created = body(response)
    assert created["message"] == "User created"
    assert created["username"] == "alice"
    assert created["balance"] == "1000.00"
    assert len(created["user_id"]) == 36


def test_register_accepts_balance_as_string_and_keeps_cents_exact(api) -> None:
    response = api.post("/users", {"username": "bob", "balance": "0.10"})
    assert body(response)["balance"] == "0.10"
    assert body(api.get("/users/bob"))["balance"] == "0.10"


def test_register_keeps_cents_exact_when_sent_as_a_json_number(api) -> None:
    raw = b'{"username": "carol", "balance": 9999999999.99}'
    response = api.raw.post("/users", body=raw, headers={"Content-Type": "application/json"})
    assert body(response)["balance"] == "9999999999.99"


def test_duplicate_username_is_409(api) -> None:
    assert api.post("/users", {"username": "alice", "balance": "1"}).status_code == 201
    response = api.post("/users", {"username": "alice", "balance": "2"})
    assert_error(response, 409, "conflict")
    assert body(api.get("/users/alice"))["balance"] == "1.00"


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({"username": "al", "balance": "1"}, {"username"}),
        ({"username": "12345", "balance": "1"}, {"username"}),
        ({"username": "alice", "balance": "10.001"}, {"balance"}),
        ({"username": "alice", "balance": "-1"}, {"balance"}),
        ({"username": "alice"}, {"balance"}),
        ({}, {"username", "balance"}),
        ({"username": "a b", "balance": "abc"}, {"username", "balance"}),
    ],
)
def test_invalid_registration_is_400_naming_every_field_and_creates_nothing(api, payload, fields) -> None:
    response = api.post("/users", payload)
    assert_error(response, 400, "validation_error")
    assert error_fields(response) == fields
    with get_engine().connect() as conn:  # whatever name was sent, no user exists
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0


@pytest.mark.parametrize("path", ["/users/alice", "/users/alice/"])
def test_get_user_shows_balance_and_available_balance(api, path: str) -> None:
    user_id = body(api.post("/users", {"username": "alice", "balance": "250.5"}))["user_id"]
    response = api.get(path)
    assert response.status_code == 200
    user = body(response)
    assert user["user_id"] == user_id
    assert user["balance"] == "250.50"
    assert user["available_balance"] == "250.50"
    assert user["created_at"].endswith("Z") or user["created_at"].endswith("+00:00")


def test_unknown_user_is_404(api) -> None:
    assert_error(api.get("/users/nobody"), 404, "not_found")


def test_get_user_fills_the_cache_on_a_miss_and_serves_hits_from_it(api, redis_client, cache_prefix) -> None:
    key = answer_key("get_user", username="alice")
    api.post("/users", {"username": "alice", "balance": "5"})
    assert not redis_client.exists(key)

    miss = body(api.get("/users/alice"))
    assert cached_answer(redis_client, key) == miss
    assert redis_client.ttl(key) > 0

    # A hit answers from Redis alone: what Redis holds is what the client gets.
    kept = json.loads(redis_client.get(key))
    kept["value"]["body"]["balance"] = "777.00"
    redis_client.set(key, json.dumps(kept))
    assert body(api.get("/users/alice"))["balance"] == "777.00"


def test_user_and_stock_of_the_same_name_do_not_collide(api, redis_client, cache_prefix) -> None:
    from tests.integration.helpers import STOCK

    api.post("/users", {"username": "AAPL", "balance": "5"})
    api.post("/stocks", STOCK)
    assert body(api.get("/users/AAPL"))["username"] == "AAPL"
    assert body(api.get("/stocks/AAPL"))["ticker"] == "AAPL"
    assert redis_client.exists(answer_key("get_user", username="AAPL"), answer_key("get_stock", ticker="AAPL")) == 2
