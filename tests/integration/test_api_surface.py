"""The API's outer surface: the generated OpenAPI document and the offline Swagger UI, /health, pagination of
every list, the one error shape for what API Gateway itself answers, CORS, and the security basics."""
from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.parse
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from werkzeug.test import Client as WsgiClient

from chalicelib.adapters.database import get_database, get_engine
from chalicelib.adapters.placement import get_order_desk
from chalicelib.api import market
from chalicelib.api.classic.shapes import NewTrade, NewUser
from chalicelib.config import get_settings
from chalicelib.services import users as users_service
from devstack.paths import ROOT
from devstack.wsgi import ChaliceWSGI
from tests.integration.helpers import assert_error, body, seed, trade


@pytest.fixture
def served() -> WsgiClient:
    """The app as `make run` serves it: the WSGI adapter over Chalice's local API Gateway."""
    return WsgiClient(ChaliceWSGI())


def walk(api: Any, path: str) -> tuple[list[Any], int]:
    """Every item of a list, following the Link header; returns the items and the number of pages."""
    items, pages = [], 0
    while path:
        response = api.get(path)
        assert response.status_code == 200, response.body
        items += body(response)
        pages += 1
        link = response.headers.get("Link")
        path = link.split(">")[0].lstrip("<") if link else ""
    return items, pages


# --- OpenAPI and Swagger UI -------------------------------------------------------------------------------------

def test_openapi_document_lists_every_route_with_its_models(api) -> None:
    from app import app

    document = body(api.get("/openapi.json"))
    assert document["openapi"] == "3.1.0"
    routed = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    # Each surface has a document of its own: the classic one here, Alpaca's at /v2/openapi.json.
    alpaca = body(api.get("/v2/openapi.json"))
    in_v2 = {(path, method) for path, operations in alpaca["paths"].items() for method in operations}
    assert documented | in_v2 == routed and not documented & in_v2
    assert all(path.startswith("/v2/") for path, _ in in_v2)
    assert alpaca["components"]["schemas"]["ErrorOut"]["required"] == ["code", "message"]
    components = document["components"]["schemas"]
    # Generated from the models the routes validate with, never written by hand.
    assert components["NewUser"]["properties"] == NewUser.model_json_schema()["properties"]
    assert components["NewTrade"]["properties"] == NewTrade.model_json_schema()["properties"]
    place = document["paths"]["/transactions"]["post"]
    assert place["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NewTrade"}
    assert {"202", "400", "404", "409", "413", "415", "503"} <= set(place["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in place["parameters"])
    error = place["responses"]["409"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorOut"}
    listing = document["paths"]["/transactions/{user_id}"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"user_id", "limit", "cursor", "status"}
    assert {"Link", "X-Next-Cursor"} <= set(listing["responses"]["200"]["headers"])


def test_openapi_document_declares_the_bearer_scheme_and_each_operations_rule(api) -> None:
    from app import routes
    from chalicelib.api.access import PUBLIC

    document = body(api.get("/openapi.json"))
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    for spec in routes.specs:
        operation = document["paths"][spec.path][spec.method.lower()]
        if spec.access == PUBLIC:
            assert operation["security"] == [], spec.path
        else:
            assert operation["security"] == [{"bearerAuth": []}], spec.path
            assert {"401", "403", "429"} <= set(operation["responses"]), spec.path


def test_every_reference_in_the_document_resolves(api) -> None:
    document = body(api.get("/openapi.json"))
    references = set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(document)))
    assert references and references <= set(document["components"]["schemas"])


def test_swagger_page_loads_its_assets_from_the_app_not_a_cdn(api) -> None:
    page = api.get("/swagger")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert not re.search(r"(src|href)=\"https?://", html)  # works offline
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/swagger/") for asset in assets)
    for asset in assets:
        answer = api.get(asset)
        assert answer.status_code == 200 and len(answer.body) > 100, asset
    assert "/openapi.json" in html
    assert_error(api.get("/swagger/..%2F..%2Fapp.py"), 400)  # not an asset name: refused before any lookup
    assert_error(api.get("/swagger/swagger-ui.js.map"), 404)  # only the page's own files are served


def test_swagger_page_runs_only_its_own_scripts_and_is_never_framed(api) -> None:
    """Users paste keys into it: a Content-Security-Policy allows only its own files and its one inline script (by
    hash), no other origin, and no framing; every asset says nosniff."""
    import base64
    import hashlib
    import re

    page = api.get("/swagger")
    policy = page.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self'"
    inline = re.findall(r"<script>(.*?)</script>", page.body.decode(), re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "DENY"
    assert api.get("/swagger/swagger-ui.css").headers["X-Content-Type-Options"] == "nosniff"


def test_swagger_page_follows_the_stage_prefix_of_api_gateway() -> None:
    from chalicelib.api.swagger import swagger_page

    html = swagger_page(SimpleNamespace(context={"path": "/api/swagger/"})).body
    assert 'href="/api/swagger/swagger-ui.css"' in html and '"/api/openapi.json"' in html


# --- Health -----------------------------------------------------------------------------------------------------

def test_health_reports_each_dependency(api) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    report = body(response)
    assert report["status"] == "ok" and set(report["checks"]) == {"database", "cache", "queue"}
    assert all(check["status"] == "ok" and check["latency_ms"] >= 0 for check in report["checks"].values())
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("variable, value, down", [
    ("REDIS_URL", "redis://127.0.0.1:1/0", "cache"),
    ("TRADE_QUEUE_NAME", "no-such-queue", "queue"),
])
def test_health_is_503_naming_what_is_down(api, monkeypatch, variable: str, value: str, down: str) -> None:
    from chalicelib.adapters.redis_client import get_redis
    from chalicelib.adapters.trade_queue import get_trade_queue

    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    get_settings()
    get_redis.cache_clear()
    get_trade_queue.cache_clear()
    response = api.get("/health")
    assert response.status_code == 503
    report = body(response)
    assert report["status"] == "unavailable"
    assert {name for name, check in report["checks"].items() if check["status"] == "down"} == {down}
    assert report["checks"][down]["error"]  # names the kind of failure ...
    assert "127.0.0.1" not in json.dumps(report)  # ... but no address or other internals


# --- Pagination -------------------------------------------------------------------------------------------------

def test_stock_list_pages_by_ticker(api) -> None:
    tickers = [f"T{i:02d}" for i in range(25)]
    seed(api, {"alice": "1"}, dict.fromkeys(reversed(tickers), ("1.00", 10)))
    items, pages = walk(api, "/stocks?limit=10")
    assert [s["ticker"] for s in items] == tickers and pages == 3
    assert [s["ticker"] for s in body(api.get("/stocks/"))] == tickers  # default limit 100: one page


def test_holdings_page_by_ticker(api) -> None:
    ids = seed(api, {"alice": "1"}, {f"H{i}": ("1.00", 10) for i in range(5)})
    with get_engine().begin() as conn:
        for i in range(5):
            conn.execute(text("INSERT INTO holdings (user_id, ticker, quantity) VALUES (:u, :t, :q)"),
                         {"u": ids["alice"], "t": f"H{i}", "q": i + 1})
    items, pages = walk(api, "/users/alice/holdings?limit=2")
    assert [(h["ticker"], h["quantity"], h["available"]) for h in items] == [(f"H{i}", i + 1, i + 1) for i in range(5)]
    assert pages == 3


def test_stock_pages_stay_stable_when_stocks_are_added_between_pages(api) -> None:
    seed(api, {"alice": "1"}, dict.fromkeys(("B", "D", "F", "H"), ("1.00", 10)))
    first = api.get("/stocks?limit=2")
    assert [s["ticker"] for s in body(first)] == ["B", "D"]
    seed(api, {"bob": "1"}, dict.fromkeys(("A", "E"), ("1.00", 10)))  # one before the cursor, one after
    rest, _ = walk(api, first.headers["Link"].split(">")[0].lstrip("<"))
    assert [s["ticker"] for s in rest] == ["E", "F", "H"]  # nothing repeated, nothing skipped


def test_transaction_pages_stay_stable_under_concurrent_trades(api) -> None:
    seed(api, {"alice": "100000"}, {"AAPL": ("1.00", 100_000)})
    existing = [body(api.post("/transactions", trade(volume=1)))["transaction_id"] for _ in range(30)]
    stop = threading.Event()

    def keep_trading() -> None:
        from chalicelib.services import trades
        from chalicelib.services.unit_of_work import UnitOfWork

        while not stop.is_set():
            trades.place(NewTrade.parse(trade(volume=1)), None, UnitOfWork(), get_order_desk(), market.clock())

    writer = threading.Thread(target=keep_trading)
    writer.start()
    try:
        items, pages = walk(api, "/transactions/alice?limit=4")
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not writer.is_alive(), "the writer did not stop"
    seen = [t["transaction_id"] for t in items]
    assert len(seen) == len(set(seen))  # no trade shown twice
    assert [t for t in seen if t in existing] == existing[::-1]  # every earlier trade once, newest first
    assert pages >= 8


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=ten", "cursor=!!!", "cursor=%00"])
def test_bad_page_parameters_are_400(api, query: str) -> None:
    seed(api)
    for path in ("/stocks", "/users/alice/holdings", "/transactions/alice"):
        assert_error(api.get(f"{path}?{query}"), 400, "validation_error")


# --- What API Gateway answers itself, CORS ----------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [("GET", "/nope"), ("POST", "/stocks/AAPL/extra/parts"), ("GET", "/")])
def test_unknown_route_is_404_in_the_error_shape(served, method: str, path: str) -> None:
    response = served.open(path, method=method)
    assert response.status_code == 404
    assert json.loads(response.get_data())["error"]["code"] == "not_found"


def test_body_over_the_gateway_limit_is_413_in_the_error_shape(served) -> None:
    response = served.post("/users", data=b"x" * (10 * 1024 * 1024 + 1), content_type="application/json")
    assert response.status_code == 413
    assert json.loads(response.get_data())["error"]["code"] == "payload_too_large"


def test_gateway_responses_for_aws_match_the_local_ones() -> None:
    from chalicelib.api.gateway import GATEWAY_HEADERS, GATEWAY_RESPONSES, gateway_error_body

    template = json.loads((ROOT / ".chalice/merge-template.json").read_text())["Resources"]
    declared = {r["Properties"]["ResponseType"]: r["Properties"] for r in template.values()
                if r.get("Type") == "AWS::ApiGateway::GatewayResponse"}
    assert set(declared) == set(GATEWAY_RESPONSES)
    for kind, (status, _, _) in GATEWAY_RESPONSES.items():
        assert json.loads(declared[kind]["ResponseTemplates"]["application/json"]) == gateway_error_body(kind)
        assert declared[kind].get("StatusCode") == (str(status) if status else None)
        headers = {name.removeprefix("gatewayresponse.header."): value.strip("'")
                   for name, value in declared[kind]["ResponseParameters"].items()}
        assert headers == {"Content-Type": "application/json", **GATEWAY_HEADERS.get(kind, {})}


def test_cors_preflight_and_answers_allow_any_origin_without_credentials(served) -> None:
    preflight = served.open("/transactions", method="OPTIONS",
                            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert {"Idempotency-Key", "Authorization"} <= set(preflight.headers["Access-Control-Allow-Headers"].split(","))
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    answer = served.get("/stocks", headers={"Origin": "https://app.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert {"X-Next-Cursor", "X-RateLimit-Remaining", "Retry-After"} <= set(
        answer.headers["Access-Control-Expose-Headers"].split(","))


# --- Security basics --------------------------------------------------------------------------------------------

def test_an_internal_error_answers_without_a_trace_and_logs_one(api, monkeypatch, log_records) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("secret internals at /srv/app/chalicelib/services/users.py")

    monkeypatch.setattr(users_service, "get", broken)
    response = api.get("/users/alice", key=api.admin_key)
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.body.decode() and "Traceback" not in response.body.decode()
    assert error["message"] == "an internal error occurred"
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in log_records)


INJECTIONS = ["x' OR '1'='1", "x'; DROP TABLE trades;--", "x\"; DELETE FROM users;--", "x') UNION SELECT 1--"]


@pytest.mark.parametrize("injection", INJECTIONS)
def test_sql_shaped_input_only_ever_travels_as_a_bound_parameter(api, injection: str) -> None:
    """Every statement the app sends is watched: the input never appears in SQL text, only among its parameters,
    and it is stored and read back exactly as sent."""
    from sqlalchemy import event

    seed(api)
    statements: list[tuple[str, Any]] = []

    def watch(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    engines = (get_database().engine, get_database().autocommit)  # transactions, and one-statement placements
    for engine in engines:
        event.listen(engine, "before_cursor_execute", watch)
    try:
        placed = api.post("/transactions", trade(volume=1, client_order_id=injection.replace(" ", "_")),
                          headers={"Idempotency-Key": injection.replace(" ", "_")})
        assert placed.status_code == 202, placed.body
        listed = body(api.get("/transactions/alice"))
        for path in (f"/users/{urllib.parse.quote(injection)}", f"/stocks/{urllib.parse.quote(injection)}"):
            assert api.get(path, key=api.admin_key).status_code == 400
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", watch)
    sent = injection.replace(" ", "_")
    assert [t["client_order_id"] for t in listed] == [sent]
    assert statements and not [sql for sql, _ in statements if sent in sql]
    assert any(sent in str(parameters) for _, parameters in statements)
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trades")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 1


def test_no_secret_is_committed() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    secret = re.compile(
        r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}"
        r"|LOCALSTACK_AUTH_TOKEN\s*[=:]\s*['\"]?[A-Za-z0-9-]{20,}|xox[bap]-[0-9A-Za-z-]{10,}|ghp_[0-9A-Za-z]{30,}"
    )
    found = [name for name in files
             if (ROOT / name).is_file() and secret.search((ROOT / name).read_text(errors="ignore"))]
    assert found == []
