"""Small helpers shared by integration tests."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any


def body(response: Any) -> Any:
    return json.loads(response.body)


def error_fields(response: Any) -> set[str]:
    return {detail["field"] for detail in body(response)["error"]["details"]}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/json"
    error = body(response)["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


STOCK = {"ticker": "AAPL", "open_price": "150.10", "close_price": "151.25", "high": "152.00", "low": "149.50",
         "volume": 1000}


def shares(api: Any, user: str = "alice") -> list[dict[str, Any]]:
    """The user's positions as share counts only: {ticker, quantity, available}."""
    return [{k: position[k] for k in ("ticker", "quantity", "available")}
            for position in body(api.get(f"/users/{user}/holdings"))]


def trade(user: str = "alice", ticker: str = "AAPL", side: str = "buy", volume: int = 10, **extra: Any) -> dict:
    return {"user": user, "ticker": ticker, "transaction_type": side, "transaction_volume": volume, **extra}


def seed(api: Any, users: dict[str, str] | None = None, stocks: dict[str, tuple[str, int]] | None = None) -> dict:
    """Register users {name: balance} and stocks {ticker: (close_price, volume)}; returns {name: user_id}."""
    ids = {}
    for name, balance in (users or {"alice": "10000.00"}).items():
        ids[name] = body(api.post("/users", {"username": name, "balance": balance}))["user_id"]
    for ticker, (price, volume) in (stocks or {"AAPL": ("100.00", 1000)}).items():
        created = api.post("/stocks", {"ticker": ticker, "open_price": price, "close_price": price, "high": price,
                                       "low": price, "volume": volume})
        assert created.status_code == 201, created.body
    return ids


def drain(sqs: Any, queue_url: str, rounds: int = 50) -> int:
    """Settle everything on the queue with an in-process poller; returns how many messages were deleted."""
    from app import settle_trades
    from devstack.poller import SqsPoller

    poller = SqsPoller(sqs, queue_url, settle_trades, wait_time_s=0)
    idle = 0
    for _ in range(rounds):
        result = poller.poll_once()
        idle = idle + 1 if result.received == 0 else 0
        if idle >= 2:
            break
    return poller.totals.deleted


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def run_together(work: Callable[[], object], copies: int, timeout_s: float, seen: Callable[[], object]) -> None:
    """`copies` threads running `work` at once; fails, saying what `seen()` reports, if any is still running after
    `timeout_s` (a wait is bounded, and tells what it saw)."""
    threads = [threading.Thread(target=work) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
    assert not any(thread.is_alive() for thread in threads), f"still running after {timeout_s} s; seen: {seen()}"


def live(redis_client: Any, prefix: str, key: str, family: str | None = None) -> bool:
    """Whether the cache would answer from `key`: a plain entry that exists, or a list page whose family still has
    the token it was loaded under (a change gives the family a new one; the old pages are never served again)."""
    raw = redis_client.get(key)
    if raw is None:
        return False
    if family is None:
        return True
    token = redis_client.get(f"{prefix}:generation:{family}")
    return token is not None and json.loads(raw).get("token") == (token if isinstance(token, str) else token.decode())


def page_items(redis_client: Any, key: str) -> list[Any]:
    """The items of a cached list page."""
    return list(json.loads(redis_client.get(key))["value"]["items"])


def answer_key(route: str, **given: Any) -> str:
    """The cache key of a classic route's answer to these parameters (as its view receives them); the query is
    its shape's defaults unless given."""
    from chalicelib.api.classic import shapes
    from chalicelib.api.classic.routes import routes

    spec = next(spec for spec in routes.specs if spec.name == route)
    if spec.query is not None:
        given.setdefault("query", getattr(shapes, spec.query)())
    return routes.answer_key(route, **given)


def cached_answer(redis_client: Any, key: str) -> Any:
    """What the cache holds under `key`: a route's JSON answer, or a page's items."""
    kept = json.loads(redis_client.get(key))["value"]
    return kept["body"] if "body" in kept else kept["items"]
