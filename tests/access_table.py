"""The expected answer of every route to every kind of caller, generated from the route table, and valid requests
to ask it with: shared by the in-process and WSGI tests (tests/integration) and the one over `make run`'s HTTP
(tests/e2e)."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.api.access import ADMIN, OWNER_OR_ADMIN, PUBLIC, SELF
from chalicelib.api.router import RouteSpec

CREDENTIALS = ("none", "malformed", "unknown", "revoked", "another user's", "own", "admin")
UNKNOWN_KEY = "tapi.0123456789abcdef." + "A" * 43


@dataclass
class World:
    """Alice (whose routes are asked for), Bob (another user), an admin, and what they own."""

    alice_key: str
    bob_key: str
    admin_key: str
    revoked_key: str
    alice_trade: str  # pending or canceled: a cancel of it answers 200 either way
    new_alice_key: Callable[[], str]  # a fresh key id of Alice's, to revoke
    # A fresh resting order of Alice's, to replace. Alice also holds AAPL shares, for closing the position.
    new_alice_order: Callable[[], str]
    alice_client_order_id: str = ""  # one of Alice's orders was placed with it

    def key(self, credential: str) -> str | None:
        return {"none": None, "malformed": "not-a-key", "unknown": UNKNOWN_KEY, "revoked": self.revoked_key,
                "another user's": self.bob_key, "own": self.alice_key, "admin": self.admin_key}[credential]

    @property
    def tokens(self) -> list[str]:
        return [self.alice_key, self.bob_key, self.admin_key, self.revoked_key]


def specs() -> list[RouteSpec]:
    from app import alpaca_routes, routes

    return [*routes.specs, *alpaca_routes.specs]


def surface_of(spec: RouteSpec) -> Any:
    from chalicelib.api.alpaca.routes import ALPACA
    from chalicelib.api.classic.routes import CLASSIC

    return ALPACA if spec.path.startswith("/v2") else CLASSIC


def refusal_code(spec: RouteSpec, answer_body: bytes, status: int) -> Any:
    """The code a refusal's body carries: the classic surface's word, or (on /v2, but for the gateway's own 401)
    Alpaca's 8-digit number."""
    found = json.loads(answer_body)
    if spec.path.startswith("/v2") and status != 401:
        return found["code"]
    return found["error"]["code"]


def refused_code(spec: RouteSpec, status: int) -> Any:
    if spec.path.startswith("/v2") and status != 401:
        return status * 100_000
    return "unauthorized" if status == 401 else "forbidden"


def request_for(spec: RouteSpec, world: World) -> tuple[str, bytes]:
    """A valid request for `spec` about Alice: what her own key gets a success for."""
    unique = uuid.uuid4().hex[:8]  # hex: also a base-36 number
    values = {"username": "alice", "user_id": "alice", "ticker": "AAPL", "transaction_id": world.alice_trade,
              "start": "2000-01-01", "end": "2100-01-01", "asset": "swagger-ui.css"}
    if "{key_id}" in spec.path:
        values["key_id"] = world.new_alice_key()
    if spec.method == "PATCH" and "{transaction_id}" in spec.path:
        values["transaction_id"] = world.new_alice_order()
    if "{order_id}" in spec.path:
        values["order_id"] = world.new_alice_order()
    values["symbol"] = "AAPL"
    values["lookup"] = "orders:by_client_order_id"
    values["activity_type"] = "FILL"
    path = spec.path
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value)
    if spec.query == "CloseQuery":  # a share of the position, so that the next close has one to sell
        path += "?qty=1"
    if spec.query == "ClientOrderQuery":
        path += f"?client_order_id={world.alice_client_order_id}"
    example = getattr(surface_of(spec).shape(spec.query), "query_example", None) if spec.query else None
    if example is not None:
        path += "?" + "&".join(f"{name}={value}" for name, value in example().items())
    if spec.body:
        payload = json.dumps(surface_of(spec).shape(spec.body).example(unique, "alice")).encode()
    else:
        payload = b"{}" if spec.method == "POST" else b""
    return path, payload


def expected(spec: RouteSpec, credential: str) -> int:
    """What the route table says this caller gets."""
    if spec.access == PUBLIC:
        return spec.status
    if credential in ("none", "malformed", "unknown", "revoked"):
        return 401
    if spec.access == ADMIN:
        return spec.status if credential == "admin" else 403
    if spec.access == SELF:
        # Another user's key acts for its own account, where an order or position of Alice's is not found.
        if credential == "another user's" and ("{order_id}" in spec.path or "{lookup}" in spec.path
                                               or spec.path.startswith("/v2/positions/")):
            return 404
        return spec.status if credential in ("own", "another user's") else 403
    if credential == "own" or (credential == "admin" and (spec.method == "GET" or spec.access == OWNER_OR_ADMIN)):
        return spec.status
    return 403


def headers_for(world: World, credential: str) -> dict[str, str]:
    key = world.key(credential)
    return {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}


# An order that rests whatever the price does in a test: a buy far below the market, good till canceled.
RESTING_BUY = {"user": "alice", "ticker": "AAPL", "transaction_type": "buy", "transaction_volume": 1,
               "limit_price": "0.01", "time_in_force": "gtc"}
NAMED_RESTING_BUY = {**RESTING_BUY, "client_order_id": "access-table"}
