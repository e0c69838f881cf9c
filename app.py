"""tradeapi: the table of contents. Each route parses, calls one service, and answers; nothing else."""
from __future__ import annotations

import os
from typing import Any

from chalice import Chalice, Rate, Response
from chalice.app import Request, SQSEvent

from chalicelib import http
from chalicelib.cache import get_cache
from chalicelib.logs import log_invocation
from chalicelib.schemas import NewStock, NewTrade, NewUser, PageQuery, parse_range
from chalicelib.services import history, portfolio, stocks, trades, users
from chalicelib.unit_of_work import UnitOfWork

# Logs are powertools' JSON lines on the same "tradeapi" logger; Chalice's own text handler would repeat them.
app = Chalice(app_name="tradeapi", configure_logs=False)
app.register_middleware(log_invocation, "all")
app.register_middleware(http.normalize_chalice_errors, "http")
api = http.Router(app)

# Read at import because the deployer needs it to wire the event source; reading the environment is free.
TRADE_QUEUE_NAME = os.environ.get("TRADE_QUEUE_NAME", "tradeapi-trades")


@api.route("/users", methods=("POST",))
def create_user(request: Request) -> Response:
    new_user = NewUser.parse(http.json_body(request))
    return http.json_response(users.register(new_user, UnitOfWork(), get_cache()), status=201)


@api.route("/users/{username}")
def get_user(request: Request, username: str) -> Response:
    return http.json_response(users.get(username, UnitOfWork(), get_cache()))


@api.route("/users/{username}/holdings")
def get_holdings(request: Request, username: str) -> Response:
    return http.json_response(portfolio.holdings(username, UnitOfWork()))


@api.route("/stocks", methods=("POST",))
def create_stock(request: Request) -> Response:
    new_stock = NewStock.parse(http.json_body(request))
    return http.json_response(stocks.ingest(new_stock, UnitOfWork(), get_cache()), status=201)


@api.route("/stocks")
def list_stocks(request: Request) -> Response:
    return http.json_response(stocks.list_all(UnitOfWork(), get_cache()))


@api.route("/stocks/{ticker}")
def get_stock(request: Request, ticker: str) -> Response:
    return http.json_response(stocks.get(ticker, UnitOfWork(), get_cache()))


@api.route("/transactions", methods=("POST",))
def place_trade(request: Request) -> Response:
    from chalicelib.outbox import get_outbox

    new_trade = NewTrade.parse(http.json_body(request))
    placed = trades.place(new_trade, http.idempotency_key(request), UnitOfWork(), get_cache(), get_outbox())
    return http.json_response(placed.body, 202, {"Idempotent-Replayed": "true"} if placed.replayed else None)


@api.route("/transactions/{user_id}")
def list_trades(request: Request, user_id: str) -> Response:
    page = history.list_for_user(user_id, PageQuery.parse(http.query(request)), UnitOfWork(), get_cache())
    return http.page_response(request, page.items, page.next_cursor)


@api.route("/transactions/{user_id}/{transaction_id}")
def get_trade(request: Request, user_id: str, transaction_id: str) -> Response:
    return http.json_response(history.get_one(user_id, transaction_id, UnitOfWork()))


@api.route("/transactions/{user_id}/{start}/{end}")
def list_trades_in_range(request: Request, user_id: str, start: str, end: str) -> Response:
    bounds = parse_range(start, end)
    page = history.list_in_range(
        user_id, *bounds, (start, end), PageQuery.parse(http.query(request)), UnitOfWork(), get_cache()
    )
    return http.page_response(request, page.items, page.next_cursor)


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
