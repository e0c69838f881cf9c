"""tradeapi: the table of contents. Each route parses, calls one service, and answers; nothing else."""
from __future__ import annotations

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib import http
from chalicelib.cache import get_cache
from chalicelib.schemas import NewStock, NewUser
from chalicelib.services import stocks, users
from chalicelib.unit_of_work import UnitOfWork

app = Chalice(app_name="tradeapi")
app.register_middleware(http.normalize_chalice_errors, "http")
api = http.Router(app)


@api.route("/users", methods=("POST",))
def create_user(request: Request) -> Response:
    new_user = NewUser.parse(http.json_body(request))
    return http.json_response(users.register(new_user, UnitOfWork(), get_cache()), status=201)


@api.route("/users/{username}")
def get_user(request: Request, username: str) -> Response:
    return http.json_response(users.get(username, UnitOfWork(), get_cache()))


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
