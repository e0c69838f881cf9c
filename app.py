"""tradeapi: the table of contents. Each route declares who may call it (PUBLIC, OWNER of the user it names, or
ADMIN), what it takes and answers, calls one service, and answers; nothing else. The OpenAPI document is
generated from these declarations.

Importing this module is the cold start every function pays: it loads Chalice, the logger and the router. Each
use case (`services.<name>`) and the authorizer, docs and consumer modules (`api.<name>`) load when first called,
and SQLAlchemy, pydantic, redis-py and boto3 when first needed (see chalicelib/lazy.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import AuthResponse, Chalice, Rate, Request, Response, SQSEvent

from chalicelib import api, services
from chalicelib.adapters.cache import get_cache
from chalicelib.adapters.key_records import get_key_records
from chalicelib.api import middleware, requests
from chalicelib.api.access import ADMIN, OWNER, OWNER_OR_ADMIN, PUBLIC, Principal
from chalicelib.api.request_authorizer import GatewayRequest, request_authorizer
from chalicelib.api.responses import json_response, page_response
from chalicelib.api.router import Router
from chalicelib.config import get_settings
from chalicelib.domain.vocabulary import CashKind, Scope
from chalicelib.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.api.shapes import (
        NewBar,
        NewCashMovement,
        NewStock,
        NewTrade,
        NewUser,
        PageQuery,
        RangeQuery,
        TradePageQuery,
    )

# Logs are powertools' JSON lines on the same "tradeapi" logger; Chalice's own text handler would repeat them.
app = Chalice(app_name="tradeapi", configure_logs=False)
app.register_middleware(middleware.log_invocation, "all")
app.register_middleware(middleware.normalize_chalice_errors, "http")


# Settings are read at import here: the deployer wires CORS preflight and the queue's event source into API Gateway
# and Lambda.
@request_authorizer(app)
def api_key_authorizer(request: GatewayRequest) -> AuthResponse:
    return api.authorizer.authorize(request)


routes = Router(app, api_key_authorizer, cors_origin=get_settings().cors_allow_origin)

# Every route that reads or writes the database answers 503, in the error shape, while it is unreachable.
BODY_ERRORS = (400, 413, 415, 503)


@routes.route("/users", methods=("POST",), access=PUBLIC, sign_up=True, body="NewUser",
              summary="Register a user with a cash balance; the answer holds their first API key, shown once",
              response="UserCreated", status=201, errors=(*BODY_ERRORS, 409))
def create_user(request: Request, body: NewUser) -> Response:
    return json_response(services.users.register(body, UnitOfWork()), status=201)


@routes.route("/users/{username}", access=OWNER, summary="A user with balance and available balance (cached)",
              response="UserOut", errors=(404, 503))
def get_user(request: Request, username: str) -> Response:
    return json_response(services.users.get(username, UnitOfWork(), get_cache()))


@routes.route("/users/{username}/holdings", access=OWNER, query="PageQuery", response="list[HoldingOut]",
              summary="A user's positions: shares, those not promised to pending sells, average entry price, cost "
              "basis, market value and unrealized P/L (paged)", errors=(400, 404, 503), paged=True)
def get_holdings(request: Request, username: str, query: PageQuery) -> Response:
    return page_response(request, services.portfolio.holdings(username, query, UnitOfWork()))


@routes.route("/users/{username}/deposits", methods=("POST",), access=OWNER, body="NewCashMovement",
              response="CashMoved", status=201, headers=("Idempotency-Key",), errors=(*BODY_ERRORS, 404, 409),
              summary="Deposit cash: a journal entry, and the balance grows by the amount")
def deposit(request: Request, username: str, body: NewCashMovement) -> Response:
    return _cash_moved(services.cash.move(username, CashKind.DEPOSIT, body.amount, requests.idempotency_key(request),
                                          UnitOfWork()))


@routes.route("/users/{username}/withdrawals", methods=("POST",), access=OWNER, body="NewCashMovement",
              response="CashMoved", status=201, headers=("Idempotency-Key",), errors=(*BODY_ERRORS, 404, 409),
              summary="Withdraw cash, at most the available balance (else 400 insufficient_funds): a journal entry")
def withdraw(request: Request, username: str, body: NewCashMovement) -> Response:
    return _cash_moved(services.cash.move(username, CashKind.WITHDRAWAL, body.amount, requests.idempotency_key(request),
                                          UnitOfWork()))


def _cash_moved(moved: Any) -> Response:
    return json_response(moved.body, 201, {"Idempotent-Replayed": "true"} if moved.replayed else None)


@routes.route("/users/{username}/activities", access=OWNER, query="RangeQuery", response="list[ActivityOut]",
              summary="Fills, rejections, cancels, deposits and withdrawals, newest first, optionally with start <= "
              "timestamp <= end (paged, cached)", errors=(400, 404, 503), paged=True)
def list_activities(request: Request, username: str, query: RangeQuery) -> Response:
    return page_response(request, services.activities.list_for_user(username, (query.start, query.end), query,
                                                                    UnitOfWork(), get_cache()))


@routes.route("/users/{username}/keys", methods=("POST",), access=OWNER_OR_ADMIN, status=201,
              response="KeyCreated", errors=(404, 409, 503),
              summary="Create another API key for this user (owner or admin key), at most MAX_KEYS_PER_USER active; "
              "its secret is shown once")
def create_key(request: Request, username: str) -> Response:
    return json_response(services.keys.issue(username, UnitOfWork()), status=201)


@routes.route("/users/{username}/keys", access=OWNER, query="PageQuery", response="list[KeyOut]",
              errors=(400, 404, 503), paged=True,
              summary="The user's active API keys, oldest first: id, created, last used (never a secret; paged)")
def list_keys(request: Request, username: str, query: PageQuery) -> Response:
    return page_response(request, services.keys.list_active(username, query, UnitOfWork(), get_cache()))


@routes.route("/users/{username}/keys/{key_id}", methods=("DELETE",), access=OWNER_OR_ADMIN, response="KeyRevoked",
              summary="Revoke one of the user's API keys (owner or admin key); the user's own keys may not revoke "
              "the last active one; revoking it again answers the same", errors=(404, 409, 503))
def revoke_key(request: Request, username: str, key_id: str) -> Response:
    caller = Principal.from_request(request)
    return json_response(services.keys.revoke(username, key_id, caller.key_id if caller.scope == Scope.USER else None,
                                              UnitOfWork(), get_key_records()))


@routes.route("/stocks", methods=("POST",), access=ADMIN, body="NewStock", response="StockCreated", status=201,
              summary="Ingest a stock, created once; its prices then move by new bars (admin key)",
              errors=(*BODY_ERRORS, 409))
def create_stock(request: Request, body: NewStock) -> Response:
    return json_response(services.stocks.ingest(body, UnitOfWork()), status=201)


@routes.route("/stocks", access=PUBLIC, summary="Stocks by ticker (paged, cached)", query="PageQuery",
              response="list[StockOut]", errors=(400, 503), paged=True)
def list_stocks(request: Request, query: PageQuery) -> Response:
    return page_response(request, services.stocks.list_all(query, UnitOfWork(), get_cache()))


@routes.route("/stocks/{ticker}", access=PUBLIC, summary="One stock; the ticker matches in any case (cached)",
              response="StockOut", errors=(404, 503))
def get_stock(request: Request, ticker: str) -> Response:
    return json_response(services.stocks.get(ticker, UnitOfWork(), get_cache()))


@routes.route("/stocks/{ticker}/bars", methods=("POST",), access=ADMIN, body="NewBar", response="BarRecorded",
              status=201, summary="Record a price bar; the latest by timestamp sets the stock's prices and the "
              "volume on offer, an older one only joins the history (admin key)",
              errors=(*BODY_ERRORS, 404, 409))
def record_bar(request: Request, ticker: str, body: NewBar) -> Response:
    return json_response(services.prices.record(ticker, body, UnitOfWork()), status=201)


@routes.route("/stocks/{ticker}/bars", access=PUBLIC, query="RangeQuery", response="list[BarOut]",
              summary="A stock's price bars, newest first, optionally with start <= timestamp <= end (paged, cached)",
              errors=(400, 404, 503), paged=True)
def list_bars(request: Request, ticker: str, query: RangeQuery) -> Response:
    return page_response(request, services.prices.history(ticker, query, UnitOfWork(), get_cache()))


@routes.route("/transactions", methods=("POST",), access=OWNER, body="NewTrade", response="TradeAccepted",
              summary="Place a buy or sell order, at market or with a limit price; it settles asynchronously",
              status=202,
              errors=(*BODY_ERRORS, 404, 409), headers=("Idempotency-Key",))
def place_trade(request: Request, body: NewTrade) -> Response:
    placed = services.trades.place(body, requests.idempotency_key(request), UnitOfWork())
    return json_response(placed.body, 202, {"Idempotent-Replayed": "true"} if placed.replayed else None)


@routes.route("/transactions/{user_id}", access=OWNER, query="TradePageQuery", response="list[TradeOut]",
              summary="A user's transactions, newest first, optionally of one status (paged, cached)",
              errors=(400, 404, 503), paged=True)
def list_trades(request: Request, user_id: str, query: TradePageQuery) -> Response:
    return page_response(request, services.history.list_for_user(user_id, query, UnitOfWork(), get_cache()))


@routes.route("/transactions/{user_id}/{transaction_id}", access=OWNER, response="TradeOut",
              summary="One transaction with its status and reason", errors=(400, 404, 503))
def get_trade(request: Request, user_id: str, transaction_id: str) -> Response:
    return json_response(services.history.get_one(user_id, requests.transaction_id(transaction_id), UnitOfWork()))


@routes.route("/transactions/{user_id}/{transaction_id}", methods=("DELETE",), access=OWNER_OR_ADMIN,
              response="TradeCanceled", summary="Cancel a pending order: it becomes canceled and what it set aside "
              "is released; canceling it again answers the same (owner or admin key)", errors=(400, 404, 409, 503))
def cancel_trade(request: Request, user_id: str, transaction_id: str) -> Response:
    return json_response(services.settlement.cancel(user_id, requests.transaction_id(transaction_id),
                                                      UnitOfWork()))


@routes.route("/transactions/{user_id}/{start}/{end}", access=OWNER, query="TradePageQuery",
              response="list[TradeOut]", summary="A user's transactions with start <= timestamp <= end, optionally "
              "of one status (paged, cached)", errors=(400, 404, 503), paged=True)
def list_trades_in_range(request: Request, user_id: str, start: str, end: str, query: TradePageQuery) -> Response:
    between = requests.time_range(start, end)
    return page_response(request, services.history.list_in_range(user_id, between, query, UnitOfWork(), get_cache()))


@routes.route("/health", access=PUBLIC, response="HealthOut", other_responses=((503, "HealthOut"),),
              summary="Database, cache and queue reachability, each reported; 503 when one is down")
def health_check(request: Request) -> Response:
    report, healthy = services.health.report(get_settings().health_timeout_s)
    return json_response(report, 200 if healthy else 503, {"Cache-Control": "no-store"})


@routes.route("/openapi.json", access=PUBLIC, summary="This API's OpenAPI 3.1 document, generated from its schemas")
def openapi_document(request: Request) -> Response:
    return json_response(api.openapi.document(routes.specs))


@routes.route("/swagger", access=PUBLIC, summary="Interactive API documentation (Swagger UI, served offline)",
              content_type="text/html")
def swagger_page(request: Request) -> Response:
    return api.swagger.swagger_page(request)


@routes.route("/swagger/{asset}", access=PUBLIC, summary="Swagger UI's scripts and styles", errors=(404,),
              content_type="text/plain")
def swagger_asset(request: Request, asset: str) -> Response:
    return api.swagger.swagger_asset(asset)


# On AWS: batches fill for up to two seconds at low traffic (settlement is built for batches), and at most four
# batches run at once however long the backlog, so settlement never opens more database connections than that
# (batches of one ticker serialise on its row anyway). tests/deploy holds the template to these numbers.
SETTLE_BATCH_SIZE, SETTLE_BATCHING_WINDOW_S, SETTLE_MAX_CONCURRENCY = 10, 2, 4


@app.on_sqs_message(queue=get_settings().trade_queue_name, batch_size=SETTLE_BATCH_SIZE,
                    maximum_batching_window_in_seconds=SETTLE_BATCHING_WINDOW_S,
                    maximum_concurrency=SETTLE_MAX_CONCURRENCY)
def settle_trades(event: SQSEvent) -> dict[str, Any]:
    return api.consumer.handle_batch(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def relay_outbox(event: Any) -> dict[str, int]:
    current = get_settings()
    sent = services.outbox.sweep(UnitOfWork(), current.outbox_relay_min_age_s, current.outbox_resend_after_s,
                                 current.outbox_max_attempts, for_s=current.outbox_relay_sweep_s,
                                 every_s=current.outbox_relay_every_s)
    return {"sent": sent}
