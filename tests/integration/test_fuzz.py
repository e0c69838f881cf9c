"""Schemathesis drives the whole OpenAPI document against the app as it is served (the WSGI adapter over Chalice's
local API Gateway, as `make run` serves it), with real PostgreSQL, Redis and SQS behind it: no 5xx, no answer that
breaks its own schema, every malformed request refused with a 4xx, and, once every accepted trade is settled, no
broken invariant. Operations run in one random sequence, so reads see what earlier writes made; one in eight is
something an attacker would send instead (tests/integration/hostile.py), which must be refused with a 4xx. The
data is generated afresh each run; hypothesis keeps what failed in its example database (.hypothesis/) and
replays it first next time."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation
from werkzeug.test import Client as WsgiClient

from chalicelib.adapters.database import get_engine
from devstack.invariants import violations
from devstack.wsgi import ChaliceWSGI
from tests.integration.helpers import drain
from tests.integration.hostile import attacks

SEEDED_USERS = {"alice": "50000.00", "bob": "25000.00"}
SEEDED_STOCKS = {"AAPL": ("101.25", 5_000), "MSFT": ("37.10", 3_000)}


class Market:
    """What the fuzzer created, so the invariants can be checked against it afterwards."""

    def __init__(self) -> None:
        self.balances: dict[str, Decimal] = {}
        self.volumes: dict[str, int] = {}
        self.users: list[str] = []
        self.tickers: list[str] = []
        # The seeded names the fuzzer is steered to; fixed before it starts, so its draws replay exactly.
        self.targets: dict[str, tuple[str, ...]] = {}
        self.answers: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.keys: dict[str, str] = {}  # username and user id -> API key
        self.admin_key = ""

    def record(self, operation: str, response: Any) -> None:
        self.answers[operation][response.status_code] += 1
        if response.status_code != 201:
            return
        created = json.loads(response.content)
        if operation == "POST /users":
            self.balances[created["username"]] = Decimal(created["balance"])
            self.users += [created["username"], created["user_id"]]
            self.keys[created["username"]] = self.keys[created["user_id"]] = created["api_key"]
        elif operation == "POST /stocks":
            self.volumes[created["stock"]["ticker"]] = created["stock"]["volume"]
            self.tickers.append(created["stock"]["ticker"])


@pytest.fixture
def app_under_test() -> ChaliceWSGI:
    return ChaliceWSGI()


@pytest.fixture
def operations(app_under_test: ChaliceWSGI) -> dict[str, Any]:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app_under_test)
    return {operation.label: operation for operation in (result.ok() for result in schema.get_all_operations())}


@pytest.fixture
def market(operations: dict[str, Any], admin_key: str) -> Market:
    seeded = Market()
    seeded.admin_key = admin_key
    for username, balance in SEEDED_USERS.items():
        case = operations["POST /users"].Case(body={"username": username, "balance": balance},
                                              media_type="application/json")
        seeded.record("POST /users", case.call_and_validate())
    for ticker, (price, volume) in SEEDED_STOCKS.items():
        body = {"ticker": ticker, "open_price": price, "close_price": price, "high": price, "low": price,
                "volume": volume}
        case = operations["POST /stocks"].Case(body=body, media_type="application/json",
                                               headers={"Authorization": f"Bearer {admin_key}"})
        seeded.record("POST /stocks", case.call_and_validate())
    assert len(seeded.balances) == 2 and len(seeded.volumes) == 2
    seeded.targets = {"user": tuple(seeded.users), "ticker": tuple(seeded.tickers)}
    return seeded


def known(market: Market, draw: Any, name: str) -> Any:
    """Often a user or ticker that exists, so the fuzzer reaches past the 404s; otherwise whatever it makes."""
    pool = market.targets["ticker" if name == "ticker" else "user"]
    if name == "username":  # a path that takes a username only
        pool = tuple(user for user in pool if user in market.balances)
    return draw(st.sampled_from(pool)) if draw(st.booleans()) else None


def authorization(market: Market, operation: Any, case: Any, draw: Any) -> str | None:
    """Mostly the key the request needs (its user's, or the admin's), so the fuzzer reaches past the authorizer;
    sometimes another user's, the admin's, a made-up one or none, so refusals are fuzzed too."""
    if not operation.definition.raw.get("security"):
        return None
    named = [value for value in (*(case.path_parameters or {}).values(),
                                 *((case.body or {}).get(field) for field in ("user", "user_id")
                                   if isinstance(case.body, dict))) if isinstance(value, str)]
    fitting = next((market.keys[name] for name in named if name in market.keys), market.admin_key)
    choices = [fitting, market.admin_key, *market.keys.values(), "tapi.0123456789abcdef." + "x" * 43, None]
    return draw(st.sampled_from(choices)) if draw(st.integers(0, 3)) == 0 else fitting


def test_fuzz_every_operation_in_one_random_sequence(app_under_test, operations, market, sqs, queues) -> None:
    # Trades are where money moves, so placing one is drawn eight times as often as any other operation (there
    # are some thirty others).
    labels = sorted(operations) + ["POST /transactions"] * 7

    raw = WsgiClient(app_under_test)

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        if data.draw(st.integers(0, 7), label="hostile") == 0:
            attack = data.draw(attacks(), label="attack")
            key = market.keys["alice"] if attack.path.startswith(("/users/alice", "/transactions")) \
                else market.admin_key
            answer = raw.open(attack.path, method=attack.method, data=attack.body or b"", headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {key}", **attack.headers})
            market.answers["hostile"][answer.status_code] += 1
            assert 400 <= answer.status_code < 500, (attack, answer.data)
            assert set(json.loads(answer.data)["error"]) == {"code", "message", "details"}
            return
        label = data.draw(st.sampled_from(labels), label="operation")
        operation = operations[label]
        mode = data.draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]), label="mode")
        overrides: dict[str, Any] = {}
        if mode is GenerationMode.POSITIVE:
            params = {name: value for name in ("username", "user_id", "ticker")
                      if f"{{{name}}}" in operation.path and (value := known(market, data.draw, name)) is not None}
            if params:
                overrides["path_parameters"] = params
        case = data.draw(operation.as_strategy(generation_mode=mode, **overrides), label="case")
        if mode is GenerationMode.POSITIVE and label == "POST /transactions" and isinstance(case.body, dict):
            for field in ("user", "ticker"):
                if (value := known(market, data.draw, field)) is not None:
                    case.body[field] = value
                    case.body.pop("user_id", None) if field == "user" else None
            if data.draw(st.booleans()):  # an order that can be filled: known names, small, a fitting limit or none
                case.body["user"] = data.draw(st.sampled_from(market.targets["user"]))
                case.body["ticker"] = data.draw(st.sampled_from(market.targets["ticker"]))
                case.body.pop("user_id", None)
                case.body["transaction_volume"] = data.draw(st.integers(1, 50))
                case.body.pop("limit_price", None)
                if data.draw(st.booleans()):
                    case.body["limit_price"] = data.draw(st.sampled_from(["1", "10.00", "250.5"]))
        # A negative header (a malformed Authorization, say) is sent as generated: it must be refused.
        negative_header = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
        key = None if negative_header else authorization(market, operation, case, data.draw)
        if key is not None and case.headers:
            case.headers.pop("Authorization", None)
        # Business rules the document cannot express (low <= price <= high, start <= end, buying power) refuse
        # some schema-valid requests with a 400 by design, so that one check is left out; every other one runs.
        # The key is passed as an explicit header, so schemathesis's auth check re-sends each first success
        # without it and with a made-up one, and expects a 401 or 403.
        response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"} if key else None,
                                          excluded_checks=[positive_data_acceptance])
        market.record(label, response)

    run()

    placed = market.answers["POST /transactions"]
    assert placed[202] > 0 and placed[400] > 0, market.answers  # the fuzzer reached past validation both ways
    assert all(status < 500 for answers in market.answers.values() for status in answers)
    drain(sqs, queues["queue"])
    with get_engine().connect() as conn:
        assert violations(conn, market.balances, market.volumes) == []
