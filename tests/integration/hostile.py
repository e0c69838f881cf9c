"""What an attacker sends, as hypothesis strategies: forged cursors, huge numbers, control characters, non-ASCII
digits and look-alike letters, deep nesting, duplicate keys, several idempotency keys. Shared by the hostile-input
tests and the fuzzer."""
from __future__ import annotations

import base64
import json
import re
import string
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from chalicelib.api.requests import MAX_DEPTH, MAX_NUMBER_CHARS

# --- what an attacker sends ----------------------------------------------------------------------------------

control_chars = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.just("\x7f")
non_ascii_digits = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())
# Letters that case-map or normalise into ASCII ("ﬁ".upper() == "FI", "ſ".upper() == "S", Kelvin sign K -> "k").
look_alikes = st.sampled_from("ﬁﬂßſı\u212a\u212bＡｂ\u00a0\u2007\u200b")


@st.composite
def tainted(draw: Any, clean: str, taint: st.SearchStrategy[str]) -> str:
    """`clean` with hostile characters put somewhere in it."""
    at = draw(st.integers(0, len(clean)))
    return clean[:at] + draw(st.text(taint, min_size=1, max_size=3)) + clean[at:]


@st.composite
def huge_numbers(draw: Any) -> str:
    """A JSON number literal too long, or with an exponent too large, to be converted."""
    digits = draw(st.integers(1, 9))
    if draw(st.booleans()):
        return f"{digits}e{draw(st.integers(MAX_NUMBER_CHARS + 1, 10**7))}"
    if draw(st.booleans()):
        return f"{digits}e-{draw(st.integers(MAX_NUMBER_CHARS + 1, 10**7))}"
    return str(digits) * draw(st.integers(MAX_NUMBER_CHARS + 1, 5000))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@st.composite
def forged_cursors(draw: Any) -> str:
    """Cursors this API never issued: random bytes, a sort key with a skewed or naive timestamp, an id that is
    not a UUID, a good cursor spelled another way (padding, upper-case id, '+00:00' as 'Z')."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    offset = timezone(timedelta(minutes=draw(st.integers(-1439, 1439).filter(bool))))
    trade_id = draw(st.uuids())
    kind = draw(st.sampled_from(["bytes", "offset", "naive", "bad_id", "padded", "upper_id", "zulu", "parts"]))
    if kind == "bytes":  # never a plain ticker, which is a cursor /stocks may issue
        return b64(draw(st.binary(min_size=1, max_size=60).filter(lambda raw: not re.fullmatch(rb"[A-Z0-9.-]+", raw))))
    if kind == "offset":
        return b64(f"{moment.replace(tzinfo=offset).isoformat()}|{trade_id}".encode())
    if kind == "naive":
        return b64(f"{moment.isoformat()}|{trade_id}".encode())
    if kind == "bad_id":
        return b64(f"{moment.replace(tzinfo=UTC).isoformat()}|{draw(st.text(min_size=1, max_size=40))}".encode())
    good = f"{moment.replace(tzinfo=UTC).isoformat()}|{trade_id}"
    if kind == "padded":
        return base64.urlsafe_b64encode(good.encode()).decode() + "=="
    if kind == "upper_id":
        return b64(f"{moment.replace(tzinfo=UTC).isoformat()}|{str(trade_id).upper()}".encode())
    if kind == "zulu":
        return b64(good.replace("+00:00", "Z").encode())
    return b64("|".join([good, "x"] * draw(st.integers(1, 3))).encode())


def nested(depth: int) -> bytes:
    return b'{"username":"deep1","balance":"1","x":' + b"[" * depth + b"]" * depth + b"}"


@dataclass
class Attack:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def json_object(fields: dict[str, Any], raw_values: dict[str, str] | None = None) -> bytes:
    """A JSON object; `raw_values` are written as literals (numbers json.dumps could not produce)."""
    parts = [f"{json.dumps(name)}:{json.dumps(value)}" for name, value in fields.items()]
    parts += [f"{json.dumps(name)}:{literal}" for name, literal in (raw_values or {}).items()]
    return ("{" + ",".join(parts) + "}").encode()


STOCK_FIELDS = {"ticker": "ZZZ", "open_price": "1", "close_price": "1", "high": "1", "low": "1", "volume": 1}
USER_FIELDS = {"username": "mallory", "balance": "100"}
TRADE_FIELDS = {"user": "alice", "ticker": "AAPL", "transaction_type": "buy", "transaction_volume": 1}
CASH_FIELDS = {"amount": "1.00"}


@st.composite
def attacks(draw: Any) -> Attack:
    kind = draw(st.sampled_from(["cursor", "number", "control", "unicode", "depth", "duplicate", "idempotency",
                                 "order"]))
    if kind == "cursor":
        path = draw(st.sampled_from(["/transactions/alice", "/stocks", "/users/alice/holdings",
                                     "/transactions/alice/2000-01-01/2100-01-01", "/users/alice/activities",
                                     "/stocks/AAPL/bars"]))
        return Attack("GET", f"{path}?cursor={draw(forged_cursors())}")
    if kind == "number":
        target, fields, name = draw(st.sampled_from([
            ("/transactions", TRADE_FIELDS, "transaction_volume"), ("/users", USER_FIELDS, "balance"),
            ("/stocks", STOCK_FIELDS, "volume"), ("/stocks", STOCK_FIELDS, "high"),
            ("/users/alice/deposits", CASH_FIELDS, "amount"), ("/transactions", {**TRADE_FIELDS, "limit_price": 1},
                                                               "limit_price"),
            ("/transactions", {**TRADE_FIELDS, "order_type": "stop", "time_in_force": "gtc", "stop_price": 1},
             "stop_price")]))
        rest = {key: value for key, value in fields.items() if key != name}
        return Attack("POST", target, json_object(rest, {name: draw(huge_numbers())}))
    if kind in ("control", "unicode"):
        taint = control_chars if kind == "control" else (look_alikes | non_ascii_digits)
        where = draw(st.sampled_from(["path_user", "path_ticker", "body_user", "body_ticker", "body_username",
                                      "money", "client_order_id", "query_limit"]))
        if where == "path_user":
            return Attack("GET", f"/users/{_quote(draw(tainted('alice', taint)))}")
        if where == "path_ticker":
            return Attack("GET", f"/stocks/{_quote(draw(tainted('AAPL', taint)))}")
        if where == "query_limit":
            return Attack("GET", f"/transactions/alice?limit={_quote(draw(tainted('10', taint)))}")
        if where == "body_user":
            return Attack("POST", "/transactions", json_object({**TRADE_FIELDS, "user": draw(tainted("alice", taint))}))
        if where == "body_ticker":
            return Attack("POST", "/stocks", json_object({**STOCK_FIELDS, "ticker": draw(tainted("fix", taint))}))
        if where == "body_username":
            return Attack("POST", "/users", json_object({**USER_FIELDS, "username": draw(tainted("mallory", taint))}))
        if where == "client_order_id":
            return Attack("POST", "/transactions",
                          json_object({**TRADE_FIELDS, "client_order_id": draw(tainted("order-1", taint))}))
        return Attack("POST", "/users", json_object({**USER_FIELDS, "balance": draw(tainted("100", taint))}))
    if kind == "order":  # the engine's words and numbers: an order type, a time in force, what to close
        where = draw(st.sampled_from(["order_type", "time_in_force", "order_class", "close"]))
        if where == "close":
            amount = draw(huge_numbers() | st.text(max_size=12).map(lambda text: text.replace("&", "")))
            name = draw(st.sampled_from(["qty", "percentage"]))
            return Attack("DELETE", f"/users/alice/holdings/AAPL?{name}={amount}")
        word = {"order_type": "stop_limit", "time_in_force": "gtc", "order_class": "simple"}[where]
        return Attack("POST", "/transactions", json_object({**TRADE_FIELDS, where: draw(
            tainted(word, control_chars | look_alikes | non_ascii_digits))}))
    if kind == "depth":
        return Attack("POST", "/users", nested(draw(st.integers(MAX_DEPTH, 20_000))))
    if kind == "duplicate":
        target, fields = draw(st.sampled_from([("/users", USER_FIELDS), ("/stocks", STOCK_FIELDS),
                                               ("/transactions", TRADE_FIELDS)]))
        name = draw(st.sampled_from(sorted(fields)))
        literal = json.dumps(draw(st.sampled_from(["9999999", "1", "alice", "AAPL", "sell"])))
        return Attack("POST", target, json_object(fields, {name: literal}))
    keys = draw(st.lists(st.text(string.ascii_letters, min_size=1, max_size=8), min_size=2, max_size=4))
    target, fields = draw(st.sampled_from([("/transactions", TRADE_FIELDS), ("/users/alice/deposits", CASH_FIELDS),
                                           ("/users/alice/withdrawals", CASH_FIELDS)]))
    return Attack("POST", target, json_object(fields), {"Idempotency-Key": ",".join(keys)})


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")
