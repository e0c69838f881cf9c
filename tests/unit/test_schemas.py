"""Validation rules of the spec, checked on the pydantic schemas alone (no database)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.api.classic.shapes import NewStock, NewUser
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.money import MAX_MONEY, format_money

STOCK = {"ticker": "aapl", "open_price": "10", "close_price": "11", "high": "12", "low": "9", "volume": 100}


def fields_of(error: ValidationFailed) -> set[str]:
    return {detail["field"] for detail in error.details}


def reject(model: type, body: dict) -> set[str]:
    with pytest.raises(ValidationFailed) as caught:
        model.parse(body)
    return fields_of(caught.value)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1000", Decimal("1000.00")),
        (1000, Decimal("1000.00")),
        (Decimal("10.5"), Decimal("10.50")),
        ("0", Decimal("0.00")),
        ("0.01", Decimal("0.01")),
        ("10.000", Decimal("10.00")),
        ("9999999999.99", MAX_MONEY),
    ],
)
def test_money_accepts_numbers_and_strings_with_up_to_two_decimals(raw: object, expected: Decimal) -> None:
    user = NewUser.parse({"username": "alice", "balance": raw})
    assert user.balance == expected
    assert format_money(user.balance) == f"{expected:.2f}"


@pytest.mark.parametrize(
    "raw",
    ["10.001", Decimal("10.001"), 10.001, "-1", -0.01, "10000000000.00", "NaN", "Infinity", "abc", "", True, None, [1],
     " 7.25 ", "1e2"],
)
def test_money_rejects_what_is_not_a_non_negative_amount_in_cents(raw: object) -> None:
    assert reject(NewUser, {"username": "alice", "balance": raw}) == {"balance"}


@given(cents=st.integers(min_value=0, max_value=999_999_999_999))
def test_money_round_trips_every_amount_in_range(cents: int) -> None:
    amount = Decimal(cents) / 100
    assert NewUser.parse({"username": "alice", "balance": format_money(amount)}).balance == amount
    assert NewUser.parse({"username": "alice", "balance": amount}).balance == amount


@given(mills=st.integers(min_value=0, max_value=10**12).filter(lambda m: m % 10 != 0))
def test_money_never_rounds_a_third_decimal(mills: int) -> None:
    with pytest.raises(ValidationFailed):
        NewUser.parse({"username": "alice", "balance": str(Decimal(mills) / 1000)})


@pytest.mark.parametrize("username", ["bob", "a_b.c@d+e-f", "x" * 50, "user1", "1user"])
def test_username_accepts_letters_digits_and_symbols(username: str) -> None:
    assert NewUser.parse({"username": username, "balance": "1"}).username == username


@pytest.mark.parametrize("username", ["ab", "x" * 51, "has space", "semi;colon", "12345", "", 12345, None, "ümlaut"])
def test_username_rejects_bad_values(username: object) -> None:
    assert reject(NewUser, {"username": username, "balance": "1"}) == {"username"}


def test_every_offending_field_is_named() -> None:
    assert reject(NewUser, {"username": "x", "balance": "-5"}) == {"username", "balance"}
    assert reject(NewUser, {}) == {"username", "balance"}
    assert reject(NewStock, {"ticker": "", "volume": -1}) == {
        "ticker", "open_price", "close_price", "high", "low", "volume"
    }


def test_unknown_fields_are_ignored_for_older_clients() -> None:
    assert NewUser.parse({"username": "alice", "balance": "1", "email": "a@b.c"}).username == "alice"


@pytest.mark.parametrize("ticker, stored", [("aapl", "AAPL"), ("brk.b", "BRK.B"), ("X-1", "X-1"), ("a" * 15, "A" * 15)])
def test_ticker_is_stored_upper_case(ticker: str, stored: str) -> None:
    assert NewStock.parse({**STOCK, "ticker": ticker}).ticker == stored


@pytest.mark.parametrize("ticker", ["", "A" * 16, "AA PL", "AAPL$", 123, None])
def test_ticker_rejects_bad_values(ticker: object) -> None:
    assert reject(NewStock, {**STOCK, "ticker": ticker}) == {"ticker"}


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"low": "10.5"}, {"open_price"}),
        ({"open_price": "12.01"}, {"open_price"}),
        ({"close_price": "8.99"}, {"close_price"}),
        ({"low": "13", "open_price": "13", "close_price": "13"}, {"low", "open_price", "close_price"}),
        ({"high": "-1"}, {"high"}),
    ],
)
def test_stock_prices_must_satisfy_low_open_close_high(change: dict, fields: set[str]) -> None:
    assert reject(NewStock, {**STOCK, **change}) == fields


@pytest.mark.parametrize("volume", [0, 2**31 - 1, Decimal("5.0")])
def test_stock_volume_accepts_integers_in_range(volume: int | Decimal) -> None:
    assert NewStock.parse({**STOCK, "volume": volume}).volume == int(volume)


@pytest.mark.parametrize("volume", [-1, 2**31, Decimal("10.5"), True, "ten", None])
def test_stock_volume_rejects_non_integers_and_out_of_range(volume: object) -> None:
    assert reject(NewStock, {**STOCK, "volume": volume}) == {"volume"}
