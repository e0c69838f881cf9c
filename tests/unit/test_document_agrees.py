"""The OpenAPI document and the validators are generated from the same models; these properties check that they
agree: a request field is accepted by the API exactly when the JSON schema the document publishes accepts it."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.api.classic.shapes import NewTrade, NewUser, RequestModel
from chalicelib.domain.errors import ValidationFailed

# JSON values a client might send: strings shaped like the fields' own text, other strings, numbers, and the rest.
field_text = st.text(alphabet="0123456789abcdefABCDEF.-_@+ xyzBUYSELbuysel\t", max_size=60)
json_values = st.one_of(
    field_text,
    st.text(max_size=20),
    st.integers(min_value=-(10**12), max_value=10**13),
    st.decimals(min_value=-10, max_value=Decimal("1e11"), allow_nan=False, allow_infinity=False, places=3),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


def _multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any) -> Any:
    # JSON Schema means exact arithmetic: the stock float checks say 0.07 is not a multiple of 0.01 and that
    # 9999999999.99 exceeds 9999999999.99.
    if validator.is_type(instance, "number") and Decimal(instance) % Decimal(str(divisor)) != 0:
        yield jsonschema.ValidationError(f"{instance} is not a multiple of {divisor}")


def _bound(exceeds: Any) -> Any:
    def check(validator: Any, bound: Any, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "number") and exceeds(Decimal(instance), Decimal(str(bound))):
            yield jsonschema.ValidationError(f"{instance} is out of range ({bound})")

    return check


def _is_number(checker: Any, instance: Any) -> bool:
    return isinstance(instance, (int, float, Decimal)) and not isinstance(instance, bool)


ExactValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"multipleOf": _multiple_of, "maximum": _bound(lambda value, bound: value > bound),
                "minimum": _bound(lambda value, bound: value < bound)},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("number", _is_number),
)


def agrees(model: type[RequestModel], body: dict[str, Any]) -> None:
    # Numbers reach the API as Decimal (never float), and the schema validator reads them exactly too.
    documented = ExactValidator(model.model_json_schema(mode="validation")).is_valid(body)
    try:
        model.parse(body)
        accepted = True
    except ValidationFailed:
        accepted = False
    assert accepted == documented, (body, accepted, documented)


@settings(max_examples=400)
@given(username=json_values, balance=json_values)
def test_user_fields_are_accepted_exactly_when_the_document_says(username: Any, balance: Any) -> None:
    agrees(NewUser, {"username": username, "balance": balance})


@settings(max_examples=400)
@given(ticker=json_values, side=json_values, volume=json_values, order_id=json_values)
def test_trade_fields_are_accepted_exactly_when_the_document_says(ticker, side, volume, order_id) -> None:
    body = {"user": "alice", "ticker": ticker, "transaction_type": side, "transaction_volume": volume}
    if order_id is not None:
        body["client_order_id"] = order_id
    agrees(NewTrade, body)


@given(balance=st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2))
def test_every_documented_amount_is_accepted_as_number_and_as_string(balance: Decimal) -> None:
    agrees(NewUser, {"username": "alice", "balance": balance})
    agrees(NewUser, {"username": "alice", "balance": f"{balance:f}"})
