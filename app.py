"""tradeapi: the table of contents. Each route declares what it takes and answers, calls one service, and
answers; nothing else. The OpenAPI document is generated from these declarations.

Importing this module is the cold start every function pays: it loads Chalice, the logger and the services, and
none of SQLAlchemy, pydantic, redis-py or boto3, which load on first use (see chalicelib/lazy.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Rate, Request, Response, SQSEvent

from chalicelib.adapters.cache import get_cache
from chalicelib.adapters.trade_queue import get_trade_queue
from chalicelib.api import consumer, middleware, requests, swagger
from chalicelib.api.responses import json_response, page_response
from chalicelib.api.router import Router
from chalicelib.config import get_settings
from chalicelib.services import health, history, outbox, portfolio, stocks, trades, users
from chalicelib.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.api.shapes import NewStock, NewTrade, NewUser, PageQuery

# Logs are powertools' JSON lines on the same "tradeapi" logger; Chalice's own text handler would repeat them.
app = Chalice(app_name="tradeapi", configure_logs=False)
app.register_middleware(middleware.log_invocation, "all")
app.register_middleware(middleware.normalize_chalice_errors, "http")
# Read at import, as the deployer wires CORS preflight into API Gateway and the queue into the event source.
api = Router(app, cors_origin=get_settings().cors_allow_origin)

# Every route that reads or writes the database answers 503, in the error shape, while it is unreachable.
BODY_ERRORS = (400, 413, 415, 503)


@api.route("/users", methods=("POST",), summary="Register a user with a cash balance",
           body="NewUser", response="UserCreated", status=201, errors=(*BODY_ERRORS, 409))
def create_user(request: Request, body: NewUser) -> Response:
    return json_response(users.register(body, UnitOfWork()), status=201)


@api.route("/users/{username}", summary="A user with balance and available balance (cached)",
           response="UserOut", errors=(404, 503))
def get_user(request: Request, username: str) -> Response:
    return json_response(users.get(username, UnitOfWork(), get_cache()))


@api.route("/users/{username}/holdings", summary="A user's positions and the shares not promised to pending sells "
           "(paged)", query="PageQuery", response="list[HoldingOut]", errors=(400, 404, 503), paged=True)
def get_holdings(request: Request, username: str, query: PageQuery) -> Response:
    return page_response(request, portfolio.holdings(username, query, UnitOfWork()))


@api.route("/stocks", methods=("POST",), summary="Ingest a stock's data (immutable once written)",
           body="NewStock", response="StockCreated", status=201, errors=(*BODY_ERRORS, 409))
def create_stock(request: Request, body: NewStock) -> Response:
    return json_response(stocks.ingest(body, UnitOfWork()), status=201)


@api.route("/stocks", summary="Stocks by ticker (paged, cached)", query="PageQuery", response="list[StockOut]",
           errors=(400, 503), paged=True)
def list_stocks(request: Request, query: PageQuery) -> Response:
    return page_response(request, stocks.list_all(query, UnitOfWork(), get_cache()))


@api.route("/stocks/{ticker}", summary="One stock; the ticker matches in any case (cached)",
           response="StockOut", errors=(404, 503))
def get_stock(request: Request, ticker: str) -> Response:
    return json_response(stocks.get(ticker, UnitOfWork(), get_cache()))


@api.route("/transactions", methods=("POST",), summary="Place a buy or sell order; it settles asynchronously",
           body="NewTrade", response="TradeAccepted", status=202, errors=(*BODY_ERRORS, 404, 409),
           headers=("Idempotency-Key",))
def place_trade(request: Request, body: NewTrade) -> Response:
    placed = trades.place(body, requests.idempotency_key(request), UnitOfWork())
    return json_response(placed.body, 202, {"Idempotent-Replayed": "true"} if placed.replayed else None)


@api.route("/transactions/{user_id}", summary="A user's transactions, newest first (paged, cached)",
           query="PageQuery", response="list[TradeOut]", errors=(400, 404, 503), paged=True)
def list_trades(request: Request, user_id: str, query: PageQuery) -> Response:
    return page_response(request, history.list_for_user(user_id, query, UnitOfWork(), get_cache()))


@api.route("/transactions/{user_id}/{transaction_id}", summary="One transaction with its status and reason",
           response="TradeOut", errors=(400, 404, 503))
def get_trade(request: Request, user_id: str, transaction_id: str) -> Response:
    return json_response(history.get_one(user_id, requests.transaction_id(transaction_id), UnitOfWork()))


@api.route("/transactions/{user_id}/{start}/{end}", summary="A user's transactions with start <= timestamp <= end "
           "(paged, cached)", query="PageQuery", response="list[TradeOut]", errors=(400, 404, 503), paged=True)
def list_trades_in_range(request: Request, user_id: str, start: str, end: str, query: PageQuery) -> Response:
    between = requests.time_range(start, end)
    return page_response(request, history.list_in_range(user_id, between, (start, end), query, UnitOfWork(),
                                                        get_cache()))


@api.route("/health", summary="Database, cache and queue reachability, each reported; 503 when one is down",
           response="HealthOut", other_responses=((503, "HealthOut"),))
def health_check(request: Request) -> Response:
    report, healthy = health.report(get_settings().health_timeout_s)
    return json_response(report, 200 if healthy else 503, {"Cache-Control": "no-store"})


@api.route("/openapi.json", summary="This API's OpenAPI 3.1 document, generated from its schemas")
def openapi_document(request: Request) -> Response:
    from chalicelib.api import openapi  # the docs alone load pydantic's JSON Schema generator

    return json_response(openapi.document(api.specs))


@api.route("/swagger", summary="Interactive API documentation (Swagger UI, served offline)",
           content_type="text/html")
def swagger_page(request: Request) -> Response:
    return swagger.swagger_page(request)


@api.route("/swagger/{asset}", summary="Swagger UI's scripts and styles", errors=(404,),
           content_type="text/plain")
def swagger_asset(request: Request, asset: str) -> Response:
    return swagger.swagger_asset(asset)


@app.on_sqs_message(queue=get_settings().trade_queue_name, batch_size=10)
def settle_trades(event: SQSEvent) -> dict[str, Any]:
    return consumer.handle_batch(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def relay_outbox(event: Any) -> dict[str, int]:
    current = get_settings()
    sent = outbox.relay(UnitOfWork(), get_trade_queue(), current.outbox_relay_min_age_s,
                        current.outbox_resend_after_s, current.outbox_max_attempts)
    return {"sent": sent}
