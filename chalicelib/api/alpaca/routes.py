"""The Alpaca surface's routes: Alpaca's Trading API v2 under /v2, for its clients (alpaca-py, alpaca-trade-api
and the bots built on them) pointed at this API's base URL. Every route that has an account acts for the key's
own user (SELF): `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY`, or `Authorization: Bearer <api key>`.

Loaded by every cold start, like the classic surface's routes: nothing heavy at import."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib import api, services
from chalicelib.adapters import cache
from chalicelib.api import market
from chalicelib.api.access import PUBLIC, SELF, Principal
from chalicelib.api.alpaca import errors, presenters
from chalicelib.api.alpaca.activity_types import ACTIVITY_KINDS, ACTIVITY_TYPES
from chalicelib.api.responses import json_response
from chalicelib.api.router import Cached, Router, Surface
from chalicelib.domain.errors import Conflict, Error, NotFound, ValidationFailed
from chalicelib.domain.vocabulary import FINAL_STATUSES, TradeStatus

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable

    from chalicelib.api.alpaca.answers import (
        AccountOut,
        ActivityOut,
        AssetOut,
        BarsOut,
        CanceledOut,
        ClockOut,
        ClosedOut,
        ConfigurationOut,
        LatestBarsOut,
        OrderOut,
        PortfolioHistoryOut,
        PositionOut,
        SessionOut,
        SnapshotsOut,
        SymbolBarsOut,
    )
    from chalicelib.api.alpaca.shapes import (
        ActivitiesQuery,
        BarsQuery,
        CalendarQuery,
        ClientOrderQuery,
        CloseAllQuery,
        CloseQuery,
        ConfigurationChanges,
        LatestBarsQuery,
        NewOrder,
        OrderChanges,
        OrdersQuery,
        PortfolioHistoryQuery,
        SnapshotsQuery,
        SymbolBarsQuery,
    )
    from chalicelib.domain import paging
    from chalicelib.services.unit_of_work import UnitOfWork

ALPACA = Surface(
    name="alpaca", title="tradeapi: Alpaca Trading API v2",
    description="Alpaca's Trading API v2, served by tradeapi over the same accounts and order engine as its classic "
                "routes. Point an Alpaca client's base URL at this API (without /v2). Errors are "
                "`{\"code\": <8-digit int>, \"message\": str}`.",
    shapes="chalicelib.api.alpaca.shapes", answers="chalicelib.api.alpaca.answers")
routes = Router(ALPACA, errors.render)

ORDER_ERRORS = (403, 404, 422, 503)
# The classic surface's families (chalicelib/services/handlers.py says which change makes each stale), named from
# the key's own account: the same events make both surfaces' answers stale.
THE_ACCOUNT = Cached(lambda given: cache.user_family(given["principal"].username), "cache_ttl_user_s")
THE_ORDERS = Cached(lambda given: cache.transaction_lists(given["principal"].user_id)[0], "cache_ttl_transactions_s")


@dataclass(frozen=True)
class _Everything:
    """A page request: for everything, a page at a time, or for one page of an Alpaca list."""

    cursor: str | None = None
    limit: int = 1000


def _every(fetch: Callable[[Any], paging.Page[Any]]) -> list[Any]:
    found, request = [], _Everything()
    while True:
        page = fetch(request)
        found += page.items
        if page.next_cursor is None:
            return found
        request = _Everything(page.next_cursor)


def _user(principal: Principal) -> str:
    return str(principal.user_id)


@routes.route("/v2/account", access=SELF, errors=(503,), cached=THE_ACCOUNT,
              summary="The key's account: cash, buying power, equity")
def v2_account(principal: Principal, uow: UnitOfWork) -> AccountOut:
    return presenters.account(services.users.get(str(principal.username), uow))


@routes.route("/v2/account/configurations", access=SELF, errors=(503,),
              summary="The account's configuration: a cash account, long only, whole shares; suspend_trade")
def v2_configuration(principal: Principal, uow: UnitOfWork) -> ConfigurationOut:
    return presenters.configuration(services.account_configuration.get(_user(principal), uow))


@routes.route("/v2/account/configurations", methods=("PATCH",), access=SELF, errors=(400, 413, 415, 422, 503),
              summary="Change the account's configuration: suspend_trade stops every new order until lifted; "
              "margin, shorting, fractional shares and options are refused by name")
def v2_configure(body: ConfigurationChanges, principal: Principal, uow: UnitOfWork) -> ConfigurationOut:
    return presenters.configuration(services.account_configuration.change(_user(principal), body, uow))


@routes.route("/v2/account/activities", access=SELF, errors=(422, 503),
              summary="The account's activities (FILL, CSD, CSW), newest first, page_size at a time; the next "
              "page starts after page_token, the last one's id")
def v2_activities(query: ActivitiesQuery, principal: Principal, uow: UnitOfWork) -> list[ActivityOut]:
    return _activities(None, query, principal, uow)


@routes.route("/v2/account/activities/{activity_type}", access=SELF, errors=(422, 503),
              summary="The account's activities of one type, as /v2/account/activities pages them")
def v2_activities_of_type(activity_type: str, query: ActivitiesQuery, principal: Principal,
                          uow: UnitOfWork) -> list[ActivityOut]:
    if activity_type.upper() not in ACTIVITY_TYPES:
        raise ValidationFailed(f"invalid activity type: {activity_type[:20]}", [{"field": "activity_type"}])
    return _activities(activity_type, query, principal, uow)


def _activities(path_type: str | None, query: ActivitiesQuery, principal: Principal,
                uow: UnitOfWork) -> list[ActivityOut]:
    from chalicelib.domain import paging

    kinds = frozenset(ACTIVITY_KINDS[kind] for kind in query.types(path_type) if kind in ACTIVITY_KINDS)
    if not kinds:
        return []
    after = query.after_activity
    page = _Everything(None if after is None else paging.trade_cursor(*after), query.page_size)
    found = services.activities.list_for_user(_user(principal), query.between, page, uow, kinds=kinds,
                                              oldest_first=query.direction == "asc")
    return [presenters.activity(entry, _user(principal)) for entry in found.items]


@routes.route("/v2/account/portfolio/history", access=SELF, errors=(422, 503),
              summary="Equity and P/L at the end of each window (1Min, 5Min, 15Min, 1H, 1D) over period, or from "
              "start to end")
def v2_portfolio_history(query: PortfolioHistoryQuery, principal: Principal,
                         uow: UnitOfWork) -> PortfolioHistoryOut:
    found = services.portfolio_history.history(_user(principal), query, market.clock().now, uow)
    return presenters.portfolio_history(found)


@routes.route("/v2/orders", methods=("POST",), access=SELF, errors=(400, 413, 415, *ORDER_ERRORS),
              summary="Place an order: market, limit, stop or stop_limit; day, gtc, ioc or fok; whole shares")
def v2_place_order(body: NewOrder, principal: Principal, uow: UnitOfWork) -> OrderOut:
    from chalicelib.adapters.placement import get_order_desk

    placed = services.trades.place(body.for_user(_user(principal)), None, uow, get_order_desk(), market.clock())
    return presenters.order(placed.value)


@routes.route("/v2/orders", access=SELF, errors=(503,), cached=THE_ORDERS,
              summary="The account's orders: open (default), closed or all; newest first unless direction=asc")
def v2_list_orders(query: OrdersQuery, principal: Principal, uow: UnitOfWork) -> list[OrderOut]:
    statuses = {"open": [TradeStatus.PENDING], "closed": sorted(FINAL_STATUSES), "all": None}[query.status]
    tickers = None if not query.symbols else [s.strip().upper() for s in query.symbols.split(",") if s.strip()]
    found = services.history.orders(_user(principal), statuses, query.limit, uow, tickers=tickers,
                                    side=query.side, oldest_first=query.direction == "asc", between=query.between)
    return [*map(presenters.order, found)]


@routes.route("/v2/orders", methods=("DELETE",), access=SELF, status=207, errors=(503,),
              summary="Cancel every open order; one entry per order canceled")
def v2_cancel_orders(principal: Principal, uow: UnitOfWork) -> list[CanceledOut]:
    return [*map(presenters.canceled, services.orders.cancel_all(_user(principal), uow, market.clock().now))]


# Alpaca names this lookup `GET /v2/orders:by_client_order_id`. API Gateway's resource paths take no colon, so the
# segment is a path parameter of its own, where API Gateway's own matching puts every other /v2 segment second.
BY_CLIENT_ORDER_ID = "orders:by_client_order_id"


@routes.route("/v2/{lookup}", access=SELF, errors=(404, 503),
              summary="`GET /v2/orders:by_client_order_id?client_order_id=`: one of the account's orders, by its "
              "client order id (any other segment is 404)")
def v2_order_by_client_order_id(lookup: str, query: ClientOrderQuery, principal: Principal,
                                uow: UnitOfWork) -> OrderOut:
    if lookup != BY_CLIENT_ORDER_ID:
        raise NotFound(f"no route /v2/{lookup}")
    return presenters.order(services.history.by_client_order_id(_user(principal), query.client_order_id, uow))


@routes.route("/v2/orders/{order_id}", access=SELF, errors=(404, 503), summary="One of the account's orders")
def v2_get_order(order_id: uuid.UUID, principal: Principal, uow: UnitOfWork) -> OrderOut:
    return presenters.order(services.history.get_one(_user(principal), order_id, uow))


@routes.route("/v2/orders/{order_id}", methods=("PATCH",), access=SELF, errors=(400, 413, 415, *ORDER_ERRORS),
              summary="Replace an open order; answers the order that takes its place")
def v2_replace_order(order_id: uuid.UUID, body: OrderChanges, principal: Principal, uow: UnitOfWork) -> OrderOut:
    return presenters.order(services.orders.replace(_user(principal), order_id, body, uow, market.clock()))


@routes.route("/v2/orders/{order_id}", methods=("DELETE",), access=SELF, status=204, errors=(404, 422, 503),
              summary="Cancel an open order (204, no body); one no longer open is 422")
def v2_cancel_order(order_id: uuid.UUID, principal: Principal, uow: UnitOfWork) -> Response:
    found = services.history.get_one(_user(principal), order_id, uow)
    if not found.is_open:  # Alpaca's clients are told, where the classic routes answer the first cancel again
        raise Conflict(f"order is already {found.order_status}")
    services.orders.cancel(_user(principal), order_id, uow, market.clock().now)
    return Response(body="", status_code=204)


@routes.route("/v2/positions", access=SELF, errors=(503,), summary="The account's open positions")
def v2_positions(principal: Principal, uow: UnitOfWork) -> list[PositionOut]:
    held = _every(lambda page: services.portfolio.holdings(_user(principal), page, uow))
    return [*map(presenters.position, held)]


def _ticker(symbol_or_asset_id: str, uow: UnitOfWork) -> str:
    """A stock named by its symbol (any case) or its asset id (a UUID: no ticker is one)."""
    import uuid

    try:
        asset_id = uuid.UUID(symbol_or_asset_id)
    except ValueError:
        return symbol_or_asset_id.upper()
    return services.stocks.by_asset_id(asset_id, uow).ticker


@routes.route("/v2/positions/{symbol}", access=SELF, errors=(404, 503),
              summary="One open position, by symbol or asset id")
def v2_position(symbol: str, principal: Principal, uow: UnitOfWork) -> PositionOut:
    return presenters.position(services.portfolio.position(_user(principal), _ticker(symbol, uow), uow))


@routes.route("/v2/positions/{symbol}", methods=("DELETE",), access=SELF, errors=(403, 404, 422, 503),
              summary="Close all or part of a position, by symbol or asset id (qty or percentage): answers the "
              "liquidating order")
def v2_close_position(symbol: str, query: CloseQuery, principal: Principal, uow: UnitOfWork) -> OrderOut:
    from chalicelib.adapters.placement import get_order_desk

    closing = services.trades.close_position(_user(principal), _ticker(symbol, uow), query, uow, get_order_desk(),
                                             market.clock())
    return presenters.order(closing)


@routes.route("/v2/positions", methods=("DELETE",), access=SELF, status=207, errors=(503,),
              summary="Close every position (after canceling every open order, with cancel_orders=true): one "
              "entry per position, its liquidating order or why there is none")
def v2_close_positions(query: CloseAllQuery, principal: Principal, uow: UnitOfWork) -> list[ClosedOut]:
    from chalicelib.adapters.placement import get_order_desk

    if query.cancel_orders:
        services.orders.cancel_all(_user(principal), uow, market.clock().now)
    closed: list[ClosedOut] = []
    for held in _every(lambda page: services.portfolio.holdings(_user(principal), page, uow)):
        try:
            closing = services.trades.close_position(_user(principal), held.ticker, query, uow, get_order_desk(),
                                                     market.clock())
        except Error as refused:
            closed.append({"symbol": held.ticker, "status": errors.status(refused), "order_id": None,
                           "body": {"code": errors.code(errors.status(refused)), "message": refused.message}})
            continue
        closed.append({"symbol": held.ticker, "status": 200, "order_id": str(closing.id),
                       "body": presenters.order(closing)})
    return closed


@routes.route("/v2/assets", access=SELF, errors=(503,), summary="Every stock, as an asset")
def v2_assets(uow: UnitOfWork) -> list[AssetOut]:
    return [*map(presenters.asset, _every(lambda page: services.stocks.list_all(page, uow)))]


@routes.route("/v2/assets/{symbol}", access=SELF, errors=(404, 503),
              summary="One stock, as an asset, by symbol or asset id")
def v2_asset(symbol: str, uow: UnitOfWork) -> AssetOut:
    return presenters.asset(services.stocks.get(_ticker(symbol, uow), uow))


@routes.route("/v2/clock", access=PUBLIC, summary="The market clock")
def v2_clock() -> ClockOut:
    return presenters.clock(market.clock())


@routes.route("/v2/calendar", access=PUBLIC, errors=(400,), summary="The market's sessions from start to end")
def v2_calendar(query: CalendarQuery) -> list[SessionOut]:
    from datetime import date

    now = market.clock()
    start = date.fromisoformat(query.start) if query.start else now.now.date()
    end = date.fromisoformat(query.end) if query.end else start + timedelta(days=30)
    end = min(end, start + timedelta(days=366))
    return [presenters.session(day, now.calendar.name) for day in now.sessions(start, end)]



@routes.route("/v2/stocks/bars", access=PUBLIC, errors=(400, 503),
              summary="Bars of several symbols, aggregated into UTC buckets of `timeframe`, symbol by symbol (paged "
              "by page_token)")
def v2_bars(query: BarsQuery, uow: UnitOfWork) -> BarsOut:
    found = services.prices.buckets(query.tickers, query.timeframe, query, uow, newest_first=query.sort == "desc")
    return presenters.bars(found)


@routes.route("/v2/stocks/bars/latest", access=PUBLIC, errors=(400, 503), summary="Each symbol's latest bar")
def v2_latest_bars(query: LatestBarsQuery, uow: UnitOfWork) -> LatestBarsOut:
    return {"bars": {bucket.ticker: presenters.bar(bucket) for bucket in services.prices.latest(query.tickers, uow)}}


@routes.route("/v2/stocks/snapshots", access=PUBLIC, errors=(400, 422, 503),
              summary="Each symbol's latest minute bar, latest daily bar and the daily bar before it, keyed by symbol "
              "(symbols without bars are left out)")
def v2_snapshots(query: SnapshotsQuery, uow: UnitOfWork) -> SnapshotsOut:
    return {ticker: presenters.snapshot(found) for ticker, found in services.prices.snapshots(query.tickers,
                                                                                              uow).items()}


@routes.route("/v2/stocks/{symbol}/bars", access=PUBLIC, errors=(400, 503),
              summary="One symbol's bars, aggregated as /v2/stocks/bars aggregates them (alpaca-trade-api's path)")
def v2_symbol_bars(symbol: str, query: SymbolBarsQuery, uow: UnitOfWork) -> SymbolBarsOut:
    found = presenters.bars(services.prices.buckets([symbol], query.timeframe, query, uow,
                                                    newest_first=query.sort == "desc"))
    return {"bars": found["bars"].get(symbol, []), "symbol": symbol, "next_page_token": found["next_page_token"]}



@routes.route("/v2/openapi.json", access=PUBLIC,
              summary="This surface's OpenAPI 3.1 document, generated from its schemas as the classic one is")
def v2_openapi_document() -> Response:
    return json_response(api.openapi.document(ALPACA, routes.specs))
