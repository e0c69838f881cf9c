"""GET /transactions/{user_id}[/{transaction_id} | /{start}/{end}] and GET /users/{username}/holdings."""
from __future__ import annotations

import base64
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from chalicelib.adapters.database import get_engine
from tests.integration.helpers import (
    answer_key,
    assert_error,
    body,
    drain,
    error_fields,
    live,
    page_items,
    seed,
    shares,
    trade,
)


def place(api, n: int, user: str = "alice") -> list[str]:
    return [body(api.post("/transactions", trade(user=user, volume=1)))["transaction_id"] for _ in range(n)]


def restamp(trade_id: str, moment: datetime) -> None:
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE trades SET created_at = :m WHERE id = :t"), {"m": moment, "t": trade_id})


@pytest.mark.parametrize("who", ["alice", "id"])
def test_list_is_newest_first_by_username_or_id(api, who: str) -> None:
    ids = seed(api)
    placed = place(api, 3)
    listed = body(api.get(f"/transactions/{ids['alice'] if who == 'id' else 'alice'}/"))
    assert [t["transaction_id"] for t in listed] == placed[::-1]
    assert all(t["user"] == "alice" for t in listed)


def test_list_of_a_user_without_trades_is_an_empty_array(api) -> None:
    seed(api)
    response = api.get("/transactions/alice")
    assert body(response) == [] and "Link" not in response.headers


def test_unknown_user_is_404(api) -> None:
    assert_error(api.get("/transactions/nobody"), 404)
    assert_error(api.get(f"/transactions/{uuid.uuid4()}"), 404)


def test_pages_follow_the_cursor_in_link_and_x_next_cursor(api) -> None:
    seed(api)
    placed = place(api, 7)[::-1]
    seen, path, pages = [], "/transactions/alice?limit=3", 0
    while path:
        response = api.get(path)
        seen += [t["transaction_id"] for t in body(response)]
        pages += 1
        link = response.headers.get("Link")
        if link is None:
            assert "X-Next-Cursor" not in response.headers
            break
        target = link.split(">")[0].lstrip("<")
        assert link.endswith('; rel="next"')
        query = urllib.parse.parse_qs(urllib.parse.urlparse(target).query)
        assert query["cursor"] == [response.headers["X-Next-Cursor"]]
        path = target
    assert seen == placed and pages == 3


def test_inserts_after_the_first_page_do_not_shift_later_pages(api) -> None:
    seed(api)
    older = place(api, 4)[::-1]
    first = api.get("/transactions/alice?limit=2")
    place(api, 3)  # newer trades arrive between page requests
    rest = body(api.get(f"/transactions/alice?limit=10&cursor={first.headers['X-Next-Cursor']}"))
    assert [t["transaction_id"] for t in body(first)] + [t["transaction_id"] for t in rest] == older


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                                          ("cursor=garbage!", "cursor"), ("cursor=" + "A" * 201, "cursor")])
def test_bad_paging_parameters_are_400(api, query: str, field: str) -> None:
    seed(api)
    response = api.get(f"/transactions/alice?{query}")
    assert_error(response, 400)
    assert error_fields(response) == {field}


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


TRADE_ID = "6f1d0c1e-1a52-4a8e-9d53-2b0f6a9d8c11"
# Each decodes to a sort key of the right shape, but not one this API ever wrote.
DECODING_FORGERIES = {
    "skewed offset": _cursor(f"9999-12-31T23:59:59-23:59|{TRADE_ID}"),
    "naive timestamp": _cursor(f"2026-01-01T00:00:00|{TRADE_ID}"),
    "Z for +00:00": _cursor(f"2026-01-01T00:00:00Z|{TRADE_ID}"),
    "year zero-ish": _cursor(f"0001-01-01T00:00:00-01:00|{TRADE_ID}"),
    "not a timestamp": _cursor(f"yesterday|{TRADE_ID}"),
    "not a UUID": _cursor("2026-01-01T00:00:00+00:00|'; DROP TABLE trades;--"),
    "upper-case UUID": _cursor(f"2026-01-01T00:00:00+00:00|{TRADE_ID.upper()}"),
    "padded": base64.urlsafe_b64encode(f"2026-01-01T00:00:00+00:00|{TRADE_ID}".encode()).decode() + "=",
    "a ticker": _cursor("AAPL"),
    "a lower-case word": _cursor("foobar"),
}


@pytest.mark.parametrize("forgery", sorted(DECODING_FORGERIES))
@pytest.mark.parametrize("path", ["/transactions/alice", "/transactions/alice/2000-01-01/2100-01-01", "/stocks",
                                  "/users/alice/holdings"])
def test_cursors_that_decode_but_were_never_issued_are_400(api, path: str, forgery: str) -> None:
    seed(api)
    cursor = DECODING_FORGERIES[forgery]
    if path in ("/stocks", "/users/alice/holdings") and forgery == "a ticker":
        assert api.get(f"{path}?cursor={cursor}").status_code == 200  # a ticker is what these lists' cursors hold
        return
    response = api.get(f"{path}?cursor={cursor}")
    assert_error(response, 400, "validation_error")
    assert error_fields(response) == {"cursor"}


def test_one_transaction_and_404s(api) -> None:
    ids = seed(api, {"alice": "1000", "bob": "1000"})
    trade_id = place(api, 1)[0]
    for who in ("alice", ids["alice"]):
        assert body(api.get(f"/transactions/{who}/{trade_id}"))["transaction_id"] == trade_id
    assert_error(api.get(f"/transactions/bob/{trade_id}"), 404)  # another user's trade
    assert_error(api.get(f"/transactions/alice/{uuid.uuid4()}"), 404)
    malformed = assert_error(api.get("/transactions/alice/not-a-uuid"), 400, "validation_error")
    assert [d["field"] for d in malformed["details"]] == ["transaction_id"]


def test_range_is_inclusive_in_every_bound_format(api) -> None:
    seed(api)
    a, b, c = place(api, 3)
    restamp(a, datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC))
    restamp(b, datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC))
    restamp(c, datetime(2024, 2, 1, 0, 0, 0, tzinfo=UTC))

    def ids(start: str, end: str) -> list[str]:
        response = api.get(f"/transactions/alice/{urllib.parse.quote(start)}/{urllib.parse.quote(end)}")
        assert response.status_code == 200, response.body
        return [t["transaction_id"] for t in body(response)]

    assert ids("2024-01-01", "2024-01-31") == [b, a]  # dates: the whole end day counts
    assert ids("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z") == [c, b, a]  # both ends inclusive
    assert ids("2024-01-01T00:00:00.000001", "2024-02-01") == [c, b]  # naive means UTC
    assert ids("2024-01-15T14:00:00+02:00", "2024-01-15T14:00:00+02:00") == [b]  # offsets converted
    assert ids("1704067200", "1705320000") == [b, a]  # Unix seconds
    assert ids("2025-01-01", "2025-12-31") == []


@pytest.mark.parametrize("start, end, fields", [("yesterday", "2024-01-01", {"start"}),
                                                ("2024-01-01", "2024-13-01", {"end"}),
                                                ("2024-02-01", "2024-01-01", {"start"})])
def test_malformed_or_reversed_range_is_400(api, start: str, end: str, fields: set) -> None:
    seed(api)
    response = api.get(f"/transactions/alice/{start}/{end}")
    assert_error(response, 400, "validation_error")
    assert error_fields(response) == fields


def test_range_pages_too(api) -> None:
    seed(api)
    place(api, 5)
    today = datetime.now(UTC).date()
    path = f"/transactions/alice/{today - timedelta(days=1)}/{today + timedelta(days=1)}?limit=2"
    response = api.get(path)
    assert len(body(response)) == 2 and response.headers["X-Next-Cursor"]


def test_lists_are_cached_per_page_and_range_and_dropped_by_a_new_trade(api, redis_client, cache_prefix):
    from chalicelib.api.classic.shapes import TradePageQuery
    from chalicelib.api.parameters import PATH_PARAMETERS

    seed(api)
    place(api, 1)
    api.get("/transactions/alice")
    api.get("/transactions/alice/2000-01-01/2100-01-01")
    api.get("/transactions/alice?limit=1")
    keys = [answer_key("list_trades", user_id="alice"),
            answer_key("list_trades_in_range", user_id="alice", start=PATH_PARAMETERS["start"].parse("2000-01-01"),
                       end=PATH_PARAMETERS["end"].parse("2100-01-01")),
            answer_key("list_trades", user_id="alice", query=TradePageQuery(limit=1))]
    assert all(live(redis_client, cache_prefix, key, "transactions:alice") for key in keys)
    assert len(page_items(redis_client, keys[0])) == 1

    place(api, 1)  # one command makes every page of the family stale, however many there are
    assert not any(live(redis_client, cache_prefix, key, "transactions:alice") for key in keys)
    assert len(body(api.get("/transactions/alice"))) == 2


def test_holdings_show_quantity_and_what_is_not_promised_to_pending_sells(api, sqs, queues) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000), "MSFT": ("20.00", 1000)})
    api.post("/transactions", trade(ticker="MSFT", volume=5))
    api.post("/transactions", trade(ticker="AAPL", volume=8))
    assert body(api.get("/users/alice/holdings/")) == []  # nothing settled yet
    drain(sqs, queues["queue"])
    api.post("/transactions", trade(ticker="AAPL", side="sell", volume=3))
    assert shares(api) == [
        {"ticker": "AAPL", "quantity": 8, "available": 5},
        {"ticker": "MSFT", "quantity": 5, "available": 5},
    ]
    assert_error(api.get("/users/nobody/holdings"), 404)
