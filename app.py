"""tradeapi: the table of contents. Each route declares what it takes and answers, calls one service, and
answers; nothing else. The OpenAPI document is generated from these declarations.

Importing this module is the cold start every function pays, so it loads Chalice and the logger only: models
are named, not imported, and each view imports its service when first called."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from chalice import Chalice, Rate, Response
from chalice.app import Request, SQSEvent

from chalicelib import http
from chalicelib.cache import get_cache
from chalicelib.logs import log_invocation
from chalicelib.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.schemas import NewStock, NewTrade, NewUser, PageQuery

# Logs are powertools' JSON lines on the same "tradeapi" logger; Chalice's own text handler would repeat them.
app = Chalice(app_name="tradeapi", configure_logs=False)
app.register_middleware(log_invocation, "all")
app.register_middleware(http.normalize_chalice_errors, "http")
# Read at import because the deployer wires CORS preflight into API Gateway; reading the environment is free.
api = http.Router(app, cors_origin=os.environ.get("CORS_ALLOW_ORIGIN", "*"))

# Read at import because the deployer needs it to wire the event source.
TRADE_QUEUE_NAME = os.environ.get("TRADE_QUEUE_NAME", "tradeapi-trades")

# Every route that reads or writes the database answers 503, in the error shape, while it is unreachable.
BODY_ERRORS = (400, 413, 415, 503)


@api.route("/users", methods=("POST",), summary="Register a user with a cash balance",
           body="NewUser", response="UserCreated", status=201, errors=(*BODY_ERRORS, 409))
def create_user(request: Request, body: NewUser) -> Response:
    from chalicelib.services import users

    return http.json_response(users.register(body, UnitOfWork(), get_cache()), status=201)


@api.route("/users/{username}", summary="A user with balance and available balance (cached)",
           response="UserOut", errors=(404, 503))
def get_user(request: Request, username: str) -> Response:
    from chalicelib.services import users

    return http.json_response(users.get(username, UnitOfWork(), get_cache()))


@api.route("/users/{username}/holdings", summary="A user's positions and the shares not promised to pending sells "
           "(paged)", query="PageQuery", response="list[HoldingOut]", errors=(400, 404, 503), paged=True)
def get_holdings(request: Request, username: str, query: PageQuery) -> Response:
    from chalicelib.services import portfolio

    page = portfolio.holdings(username, query, UnitOfWork())
    return http.page_response(request, page.items, page.next_cursor)


@api.route("/stocks", methods=("POST",), summary="Ingest a stock's data (immutable once written)",
           body="NewStock", response="StockCreated", status=201, errors=(*BODY_ERRORS, 409))
def create_stock(request: Request, body: NewStock) -> Response:
    from chalicelib.services import stocks

    return http.json_response(stocks.ingest(body, UnitOfWork(), get_cache()), status=201)


@api.route("/stocks", summary="Stocks by ticker (paged, cached)", query="PageQuery", response="list[StockOut]",
           errors=(400, 503), paged=True)
def list_stocks(request: Request, query: PageQuery) -> Response:
    from chalicelib.services import stocks

    page = stocks.list_all(query, UnitOfWork(), get_cache())
    return http.page_response(request, page.items, page.next_cursor)


@api.route("/stocks/{ticker}", summary="One stock; the ticker matches in any case (cached)",
           response="StockOut", errors=(404, 503))
def get_stock(request: Request, ticker: str) -> Response:
    from chalicelib.services import stocks

    return http.json_response(stocks.get(ticker, UnitOfWork(), get_cache()))


@api.route("/transactions", methods=("POST",), summary="Place a buy or sell order; it settles asynchronously",
           body="NewTrade", response="TradeAccepted", status=202, errors=(*BODY_ERRORS, 404, 409),
           headers=("Idempotency-Key",))
def place_trade(request: Request, body: NewTrade) -> Response:
    from chalicelib.outbox import get_outbox
    from chalicelib.services import trades

    placed = trades.place(body, http.idempotency_key(request), UnitOfWork(), get_cache(), get_outbox())
    return http.json_response(placed.body, 202, {"Idempotent-Replayed": "true"} if placed.replayed else None)


@api.route("/transactions/{user_id}", summary="A user's transactions, newest first (paged, cached)",
           query="PageQuery", response="list[TradeOut]", errors=(400, 404, 503), paged=True)
def list_trades(request: Request, user_id: str, query: PageQuery) -> Response:
    from chalicelib.services import history

    page = history.list_for_user(user_id, query, UnitOfWork(), get_cache())
    return http.page_response(request, page.items, page.next_cursor)


@api.route("/transactions/{user_id}/{transaction_id}", summary="One transaction with its status and reason",
           response="TradeOut", errors=(400, 404, 503))
def get_trade(request: Request, user_id: str, transaction_id: str) -> Response:
    from chalicelib.schemas import parse_transaction_id
    from chalicelib.services import history

    return http.json_response(history.get_one(user_id, parse_transaction_id(transaction_id), UnitOfWork()))


@api.route("/transactions/{user_id}/{start}/{end}", summary="A user's transactions with start <= timestamp <= end "
           "(paged, cached)", query="PageQuery", response="list[TradeOut]", errors=(400, 404, 503), paged=True)
def list_trades_in_range(request: Request, user_id: str, start: str, end: str, query: PageQuery) -> Response:
    from chalicelib.services import history

    from chalicelib.schemas import parse_range

    page = history.list_in_range(user_id, *parse_range(start, end), (start, end), query, UnitOfWork(), get_cache())
    return http.page_response(request, page.items, page.next_cursor)


@api.route("/health", summary="Database, cache and queue reachability, each reported; 503 when one is down",
           response="HealthOut", other_responses=((503, "HealthOut"),))
def health_check(request: Request) -> Response:
    from chalicelib import health
    from chalicelib.config import get_settings

    report, healthy = health.report(get_settings().health_timeout_s)
    return http.json_response(report, 200 if healthy else 503, {"Cache-Control": "no-store"})


@api.route("/openapi.json", summary="This API's OpenAPI 3.1 document, generated from its schemas")
def openapi_document(request: Request) -> Response:
    from chalicelib import openapi

    return http.json_response(openapi.document(api.specs))


@api.route("/swagger", summary="Interactive API documentation (Swagger UI, served offline)",
           content_type="text/html")
def swagger_page(request: Request) -> Response:
    from chalicelib import openapi

    return openapi.swagger_page(request)


@api.route("/swagger/{asset}", summary="Swagger UI's scripts and styles", errors=(404,),
           content_type="text/plain")
def swagger_asset(request: Request, asset: str) -> Response:
    from chalicelib import openapi

    return openapi.swagger_asset(asset)


@app.on_sqs_message(queue=TRADE_QUEUE_NAME, batch_size=10)
def settle_trades(event: SQSEvent) -> dict[str, Any]:
    from chalicelib import consumer

    return consumer.handle_batch(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def relay_outbox(event: Any) -> dict[str, int]:
    from chalicelib.config import get_settings
    from chalicelib.outbox import get_outbox

    settings = get_settings()
    sent = get_outbox().relay(settings.outbox_relay_min_age_s, settings.outbox_resend_after_s,
                              settings.outbox_max_attempts)
    return {"sent": sent}
