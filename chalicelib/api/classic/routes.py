"""The classic surface's routes, the table of contents of what it does. Each route declares who may call it
(PUBLIC, OWNER of the user it names, OWNER_OR_ADMIN, or ADMIN), what it answers with (its view's return
annotation), whether its answer is cached and in which family; each view asks for what it needs by name, calls
one use case and presents its record. Nothing else. The OpenAPI document is generated from these declarations.

Loaded by every cold start, so it loads nothing heavy: the use cases, shapes and answers are loaded when first
used (see chalicelib/lazy.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Request, Response

from chalicelib import api, services
from chalicelib.adapters import cache
from chalicelib.api import market, requests
from chalicelib.api.access import ADMIN, OWNER, OWNER_OR_ADMIN, PUBLIC, Principal
from chalicelib.api.classic import errors, presenters
from chalicelib.api.responses import json_response
from chalicelib.api.router import Cached, Router, Surface
from chalicelib.config import get_settings
from chalicelib.domain.vocabulary import CashKind, Scope

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from chalicelib.api.classic.answers import (
        ActivityOut,
        BarOut,
        BarRecorded,
        CalendarOut,
        CanceledAll,
        CashMoved,
        ClockOut,
        FillOut,
        HoldingOut,
        KeyCreated,
        KeyOut,
        KeyRevoked,
        StockCreated,
        StockOut,
        TradeAccepted,
        TradeCanceled,
        TradeOut,
        UserCreated,
        UserOut,
    )
    from chalicelib.api.classic.shapes import (
        CalendarQuery,
        CloseQuery,
        FillPageQuery,
        NewBar,
        NewCashMovement,
        NewStock,
        NewTrade,
        NewUser,
        PageQuery,
        RangeQuery,
        ReplaceTrade,
        TradePageQuery,
    )
    from chalicelib.domain.paging import Page
    from chalicelib.domain.records import Replayable
    from chalicelib.services.unit_of_work import UnitOfWork

CLASSIC = Surface(
    name="classic", title="tradeapi",
    description="A stock-trading API: users with a cash balance, stock data, and buy/sell orders that settle "
                "asynchronously. Money is a decimal string with two places; every failed answer has the "
                "`ErrorOut` shape. Every route also answers with a trailing slash.",
    shapes="chalicelib.api.classic.shapes", answers="chalicelib.api.classic.answers")
routes = Router(CLASSIC, errors.render)

# Every route that reads or writes the database answers 503, in the error shape, while it is unreachable.
BODY_ERRORS = (400, 413, 415, 503)
# The families cached answers belong to; chalicelib/services/handlers.py says which change makes each stale.
A_USER = Cached(lambda given: cache.user_family(given["username"]), "cache_ttl_user_s")
A_STOCK = Cached(lambda given: cache.stock_family(given["ticker"]), "cache_ttl_stock_s")
# Anyone may list stocks and bars with any query: only the first page of the default size is kept.
EVERY_STOCK = Cached(lambda given: cache.stock_lists(), "cache_ttl_stock_s", first_page_only=True)
BARS = Cached(lambda given: cache.bar_lists(given["ticker"]), "cache_ttl_stock_s", first_page_only=True)
TRADES = Cached(lambda given: cache.transaction_lists(given["user_id"])[0], "cache_ttl_transactions_s")
ACTIVITIES = Cached(lambda given: cache.activity_lists(given["username"])[0], "cache_ttl_transactions_s")


@routes.route("/users", methods=("POST",), access=PUBLIC, sign_up=True, status=201, errors=(*BODY_ERRORS, 409),
              summary="Register a user with a cash balance; the answer holds their first API key, shown once")
def create_user(body: NewUser, uow: UnitOfWork) -> UserCreated:
    return presenters.user_created(services.users.register(body, uow))


@routes.route("/users/{username}", access=OWNER, errors=(404, 503), cached=A_USER,
              summary="A user with balance and available balance (cached)")
def get_user(username: str, uow: UnitOfWork) -> UserOut:
    return presenters.account(services.users.get(username, uow))


@routes.route("/users/{username}/holdings", access=OWNER, errors=(400, 404, 503),
              summary="A user's positions: shares, those not promised to pending sells, average entry price, cost "
              "basis, market value and unrealized P/L (paged)")
def get_holdings(username: str, query: PageQuery, uow: UnitOfWork) -> Page[HoldingOut]:
    return services.portfolio.holdings(username, query, uow).map(presenters.holding)


@routes.route("/users/{username}/deposits", methods=("POST",), access=OWNER, status=201,
              headers=("Idempotency-Key",), errors=(*BODY_ERRORS, 404, 409),
              summary="Deposit cash: a journal entry, and the balance grows by the amount")
def deposit(request: Request, username: str, body: NewCashMovement, uow: UnitOfWork) -> Replayable[CashMoved]:
    moved = services.cash.move(username, CashKind.DEPOSIT, body.amount, requests.idempotency_key(request), uow)
    return moved.map(presenters.cash_moved)


@routes.route("/users/{username}/withdrawals", methods=("POST",), access=OWNER, status=201,
              headers=("Idempotency-Key",), errors=(*BODY_ERRORS, 404, 409),
              summary="Withdraw cash, at most the available balance (else 400 insufficient_funds): a journal entry")
def withdraw(request: Request, username: str, body: NewCashMovement, uow: UnitOfWork) -> Replayable[CashMoved]:
    moved = services.cash.move(username, CashKind.WITHDRAWAL, body.amount, requests.idempotency_key(request), uow)
    return moved.map(presenters.cash_moved)


@routes.route("/users/{username}/activities", access=OWNER, errors=(400, 404, 503), cached=ACTIVITIES,
              summary="Fills, rejections, cancels, deposits and withdrawals, newest first, optionally with start <= "
              "timestamp <= end (paged, cached)")
def list_activities(username: str, query: RangeQuery, uow: UnitOfWork) -> Page[ActivityOut]:
    found = services.activities.list_for_user(username, (query.start, query.end), query, uow)
    return found.map(presenters.activity)


@routes.route("/users/{username}/keys", methods=("POST",), access=OWNER_OR_ADMIN, status=201,
              errors=(404, 409, 503),
              summary="Create another API key for this user (owner or admin key), at most MAX_KEYS_PER_USER active; "
              "its secret is shown once")
def create_key(username: str, uow: UnitOfWork) -> KeyCreated:
    return presenters.key_created(services.keys.issue(username, uow))


@routes.route("/users/{username}/keys", access=OWNER, errors=(400, 404, 503),
              summary="The user's active API keys, oldest first: id, created, last used (never a secret; paged)")
def list_keys(username: str, query: PageQuery, uow: UnitOfWork) -> Page[KeyOut]:
    return services.keys.list_active(username, query, uow, cache.get_cache()).map(presenters.key)


@routes.route("/users/{username}/keys/{key_id}", methods=("DELETE",), access=OWNER_OR_ADMIN,
              errors=(404, 409, 503),
              summary="Revoke one of the user's API keys (owner or admin key); the user's own keys may not revoke "
              "the last active one; revoking it again answers the same")
def revoke_key(username: str, key_id: str, principal: Principal, uow: UnitOfWork) -> KeyRevoked:
    from chalicelib.adapters.key_records import get_key_records

    caller = principal.key_id if principal.scope == Scope.USER else None
    return presenters.key_revoked(services.keys.revoke(username, key_id, caller, uow, get_key_records()))


@routes.route("/stocks", methods=("POST",), access=ADMIN, status=201, errors=(*BODY_ERRORS, 409),
              summary="Ingest a stock, created once; its prices then move by new bars (admin key)")
def create_stock(body: NewStock, uow: UnitOfWork) -> StockCreated:
    return presenters.stock_created(services.stocks.ingest(body, uow))


@routes.route("/stocks", access=PUBLIC, errors=(400, 503), cached=EVERY_STOCK,
              summary="Stocks by ticker (paged, cached)")
def list_stocks(query: PageQuery, uow: UnitOfWork) -> Page[StockOut]:
    return services.stocks.list_all(query, uow).map(presenters.stock)


@routes.route("/stocks/{ticker}", access=PUBLIC, errors=(404, 503), cached=A_STOCK,
              summary="One stock; the ticker matches in any case (cached)")
def get_stock(ticker: str, uow: UnitOfWork) -> StockOut:
    return presenters.stock(services.stocks.get(ticker, uow))


@routes.route("/stocks/{ticker}/bars", methods=("POST",), access=ADMIN, status=201,
              errors=(*BODY_ERRORS, 404, 409),
              summary="Record a price bar; the latest by timestamp sets the stock's prices and the volume on offer, "
              "an older one only joins the history (admin key)")
def record_bar(ticker: str, body: NewBar, uow: UnitOfWork) -> BarRecorded:
    return presenters.bar_recorded(services.prices.record(ticker, body, uow))


@routes.route("/stocks/{ticker}/bars", access=PUBLIC, errors=(400, 404, 503), cached=BARS,
              summary="A stock's price bars, newest first, optionally with start <= timestamp <= end (paged, cached)")
def list_bars(ticker: str, query: RangeQuery, uow: UnitOfWork) -> Page[BarOut]:
    return services.prices.history(ticker, query, uow).map(presenters.bar)


@routes.route("/users/{username}/holdings/{ticker}", methods=("DELETE",), access=OWNER, status=202,
              errors=(400, 404, 503),
              summary="Close a position: a market sell (day) of all the shares not already being sold, or of `qty` "
              "shares, or of `percentage` of those held; answers the order")
def close_position(username: str, ticker: str, query: CloseQuery, uow: UnitOfWork) -> TradeAccepted:
    from chalicelib.adapters.placement import get_order_desk

    closing = services.trades.close_position(username, ticker, query, uow, get_order_desk(), market.clock())
    return presenters.trade_accepted(closing)


@routes.route("/transactions", methods=("POST",), access=OWNER, status=202, headers=("Idempotency-Key",),
              errors=(*BODY_ERRORS, 404, 409),
              summary="Place a buy or sell order: market, limit, stop or stop_limit, with a time in force (day, gtc, "
              "ioc, fok) or without (the classic order); it is evaluated asynchronously, and rests until the market "
              "reaches it")
def place_trade(request: Request, body: NewTrade, uow: UnitOfWork) -> Replayable[TradeAccepted]:
    from chalicelib.adapters.placement import get_order_desk

    placed = services.trades.place(body, requests.idempotency_key(request), uow, get_order_desk(), market.clock())
    return placed.map(presenters.trade_accepted)


@routes.route("/transactions/{user_id}", methods=("DELETE",), access=OWNER_OR_ADMIN, errors=(400, 404, 503),
              summary="Cancel every open order of the user (owner or admin key); answers those it canceled")
def cancel_all_trades(user_id: str, uow: UnitOfWork) -> CanceledAll:
    canceled = services.orders.cancel_all(user_id, uow, market.clock().now)
    return {"message": f"{len(canceled)} open orders canceled.", "canceled": [*map(presenters.trade, canceled)]}


@routes.route("/transactions/{user_id}", access=OWNER, errors=(400, 404, 503), cached=TRADES,
              summary="A user's transactions, newest first, optionally of one status (paged, cached)")
def list_trades(user_id: str, query: TradePageQuery, uow: UnitOfWork) -> Page[TradeOut]:
    return services.history.list_for_user(user_id, query, uow).map(presenters.trade)


@routes.route("/transactions/{user_id}/{transaction_id}", access=OWNER, errors=(400, 404, 503),
              summary="One transaction with its status and reason")
def get_trade(user_id: str, transaction_id: uuid.UUID, uow: UnitOfWork) -> TradeOut:
    return presenters.trade(services.history.get_one(user_id, transaction_id, uow))


@routes.route("/transactions/{user_id}/{transaction_id}", methods=("DELETE",), access=OWNER_OR_ADMIN,
              errors=(400, 404, 409, 503),
              summary="Cancel a pending order: it becomes canceled and what it set aside is released; canceling it "
              "again answers the same (owner or admin key)")
def cancel_trade(user_id: str, transaction_id: uuid.UUID, uow: UnitOfWork) -> TradeCanceled:
    return presenters.trade_canceled(services.orders.cancel(user_id, transaction_id, uow, market.clock().now))


@routes.route("/transactions/{user_id}/{transaction_id}", methods=("PATCH",), access=OWNER,
              errors=(*BODY_ERRORS, 404, 409),
              summary="Replace an open order (quantity, limit, stop, time in force, client order id): it becomes "
              "replaced, and the answer is the new order that takes its place and what it set aside")
def replace_trade(user_id: str, transaction_id: uuid.UUID, body: ReplaceTrade, uow: UnitOfWork) -> TradeAccepted:
    return presenters.trade_accepted(services.orders.replace(user_id, transaction_id, body, uow, market.clock()))


@routes.route("/users/{username}/fills", access=OWNER, errors=(400, 404, 503),
              summary="The user's fills, newest first, each with its quantity, price and time; optionally of one "
              "transaction (paged)")
def list_fills(username: str, query: FillPageQuery, uow: UnitOfWork) -> Page[FillOut]:
    return services.history.fills(username, query, uow).map(presenters.fill)


@routes.route("/transactions/{user_id}/{start}/{end}", access=OWNER, errors=(400, 404, 503), cached=TRADES,
              summary="A user's transactions with start <= timestamp <= end, optionally of one status (paged, "
              "cached)")
def list_trades_in_range(user_id: str, start: datetime, end: datetime, query: TradePageQuery,
                         uow: UnitOfWork) -> Page[TradeOut]:
    return services.history.list_for_user(user_id, query, uow, (start, end)).map(presenters.trade)


@routes.route("/clock", access=PUBLIC, summary="The market clock: whether the market is open, its next open and close")
def get_clock() -> ClockOut:
    return presenters.clock(market.clock())


@routes.route("/calendar", access=PUBLIC, errors=(400,),
              summary="The market's sessions from `start` to `end` (dates; default: the next 30 days; at most 366)")
def get_calendar(query: CalendarQuery) -> CalendarOut:
    from datetime import timedelta

    now = market.clock()
    start = query.start or now.now.date()
    end = query.end or start + timedelta(days=30)
    return {"calendar": now.calendar.name, "sessions": [*map(presenters.session, now.sessions(start, end))]}


@routes.route("/health", access=PUBLIC, response="HealthOut", other_responses=((503, "HealthOut"),),
              summary="Database, cache and queue reachability, each reported; 503 when one is down")
def health_check() -> Response:
    report, healthy = api.health.report(get_settings().health_timeout_s)
    return json_response(report, 200 if healthy else 503, {"Cache-Control": "no-store"})


@routes.route("/openapi.json", access=PUBLIC, summary="This API's OpenAPI 3.1 document, generated from its schemas")
def openapi_document() -> Response:
    return json_response(api.openapi.document(CLASSIC, routes.specs))


@routes.route("/swagger", access=PUBLIC, summary="Interactive API documentation (Swagger UI, served offline)",
              content_type="text/html")
def swagger_page(request: Request) -> Response:
    return api.swagger.swagger_page(request)


@routes.route("/swagger/{asset}", access=PUBLIC, summary="Swagger UI's scripts and styles", errors=(404,),
              content_type="text/plain")
def swagger_asset(asset: str) -> Response:
    return api.swagger.swagger_asset(asset)
