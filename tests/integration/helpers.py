"""Small helpers shared by integration tests."""
from __future__ import annotations

import json
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
