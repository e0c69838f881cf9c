"""POST /stocks, GET /stocks and GET /stocks/{ticker}, on real PostgreSQL and Redis."""
from __future__ import annotations

import json

import pytest

from tests.integration.helpers import (
    STOCK,
    answer_key,
    assert_error,
    body,
    cached_answer,
    error_fields,
    live,
    page_items,
)


@pytest.mark.parametrize("path", ["/stocks", "/stocks/"])
def test_ingest_answers_201_with_the_stock(api, path: str) -> None:
    response = api.post(path, {**STOCK, "ticker": "aapl", "open_price": 150.1})
    assert response.status_code == 201
    created = body(response)
    assert created["message"] == "stock created"
    assert {k: v for k, v in created["stock"].items() if k not in ("created_at", "price_as_of")} == {
        "ticker": "AAPL",
        "open_price": "150.10",
        "close_price": "151.25",
        "high": "152.00",
        "low": "149.50",
        "volume": 1000,
    }
    # Its data is its first bar, current from its ingest.
    assert created["stock"]["price_as_of"] == created["stock"]["created_at"]
    assert body(api.get("/stocks/AAPL/bars")) == [{"ticker": "AAPL", "timestamp": created["stock"]["created_at"],
                                                   **{k: created["stock"][k] for k in (
                                                       "open_price", "close_price", "high", "low", "volume")}}]


@pytest.mark.parametrize("ticker", ["AAPL", "aapl", "Aapl"])
def test_duplicate_ticker_is_409_whatever_its_case(api, ticker: str) -> None:
    api.post("/stocks", STOCK)
    response = api.post("/stocks", {**STOCK, "ticker": ticker, "volume": 5})
    assert_error(response, 409, "conflict")
    assert body(api.get("/stocks/AAPL"))["volume"] == 1000


@pytest.mark.parametrize("path", ["/stocks/aapl", "/stocks/AAPL", "/stocks/AaPl/"])
def test_ticker_lookup_is_case_insensitive(api, path: str) -> None:
    api.post("/stocks", STOCK)
    response = api.get(path)
    assert response.status_code == 200
    assert body(response)["ticker"] == "AAPL"


def test_unknown_ticker_is_404(api) -> None:
    assert_error(api.get("/stocks/NOPE"), 404, "not_found")


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"ticker": "TOO-LONG-TICKER-X"}, {"ticker"}),
        ({"ticker": "BAD$"}, {"ticker"}),
        ({"low": "151.00"}, {"open_price"}),
        ({"close_price": "152.01"}, {"close_price"}),
        ({"volume": -1}, {"volume"}),
        ({"volume": 2**31}, {"volume"}),
        ({"volume": 1.5}, {"volume"}),
        ({"high": "1.001"}, {"high"}),
        ({"open_price": None, "low": "x"}, {"open_price", "low"}),
    ],
)
def test_invalid_stock_is_400_naming_every_field_and_creates_nothing(api, change, fields) -> None:
    response = api.post("/stocks", {**STOCK, **change})
    assert_error(response, 400, "validation_error")
    assert error_fields(response) == fields
    assert body(api.get("/stocks")) == []


@pytest.mark.parametrize("path", ["/stocks", "/stocks/"])
def test_list_returns_every_stock_ordered_by_ticker(api, path: str) -> None:
    for ticker in ("MSFT", "AAPL", "GOOG"):
        api.post("/stocks", {**STOCK, "ticker": ticker})
    listed = body(api.get(path))
    assert isinstance(listed, list)
    assert [stock["ticker"] for stock in listed] == ["AAPL", "GOOG", "MSFT"]


def test_stock_reads_are_cached_and_a_new_stock_refreshes_the_list(api, redis_client, cache_prefix) -> None:
    from chalicelib.api.classic.shapes import PageQuery

    list_key, stock_key = answer_key("list_stocks"), answer_key("get_stock", ticker="AAPL")
    api.post("/stocks", STOCK)
    assert body(api.get("/stocks/aapl"))["ticker"] == "AAPL"
    assert cached_answer(redis_client, stock_key)["ticker"] == "AAPL"  # any case, one entry

    assert [s["ticker"] for s in body(api.get("/stocks"))] == ["AAPL"]
    assert [s["ticker"] for s in page_items(redis_client, list_key)] == ["AAPL"]
    # Anyone may ask for any page size: only the default first page is cached, so a caller cannot fill Redis.
    assert [s["ticker"] for s in body(api.get("/stocks?limit=1"))] == ["AAPL"]
    assert not redis_client.exists(answer_key("list_stocks", query=PageQuery(limit=1)))

    api.post("/stocks", {**STOCK, "ticker": "MSFT"})
    # The cached page is stale after the commit that changed it.
    assert not live(redis_client, cache_prefix, list_key, "stocks")
    assert [s["ticker"] for s in body(api.get("/stocks"))] == ["AAPL", "MSFT"]


def test_stock_cache_hit_answers_from_redis(api, redis_client, cache_prefix) -> None:
    api.post("/stocks", STOCK)
    key = answer_key("get_stock", ticker="AAPL")
    api.get("/stocks/AAPL")
    kept = json.loads(redis_client.get(key))
    kept["value"]["body"]["volume"] = 42
    redis_client.set(key, json.dumps(kept))
    assert body(api.get("/stocks/aapl"))["volume"] == 42
    redis_client.delete(key)
    assert body(api.get("/stocks/aapl"))["volume"] == 1000
