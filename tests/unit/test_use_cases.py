"""Each use case against the in-memory unit of work (tests/unit/fakes.py): its rules, its answers (domain records)
and the events it reports, in microseconds and with no services. The same use cases run against PostgreSQL,
Redis and SQS in tests/integration, which hold what only they can: SQL, locks, concurrency and faults."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.api.classic.shapes import NewBar, NewStock, NewTrade, NewUser, PageQuery
from chalicelib.domain import api_keys, records
from chalicelib.domain.clock import AlwaysOpen, Clock
from chalicelib.domain.errors import Conflict, NotFound, Refused, ValidationFailed
from chalicelib.domain.events import (
    CashMoved,
    KeyIssued,
    KeyRevoked,
    PriceMoved,
    StockIngested,
    TradePlaced,
    UserRegistered,
)
from chalicelib.domain.vocabulary import CashKind, Reason, Side, TradeStatus
from chalicelib.services import activities, cash, history, keys, portfolio, prices, stocks, trades, users
from tests.unit.fakes import FakeCache, FakeKeyRecords, FakeOrderDesk, FakeUnitOfWork, Row, now


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def register(uow: FakeUnitOfWork, name: str = "alice", balance: str = "1000.00") -> records.NewUser:
    return users.register(NewUser.parse({"username": name, "balance": balance}), uow)


def ingest(uow: FakeUnitOfWork, ticker: str = "AAPL", price: str = "10.00", volume: int = 100) -> records.Stock:
    return stocks.ingest(NewStock.parse({"ticker": ticker, "open_price": price, "close_price": price, "high": price,
                                         "low": price, "volume": volume}), uow)


CLOCK = Clock(AlwaysOpen(), datetime(2026, 12, 3, 12, tzinfo=UTC))


def order(side: str = "buy", volume: int = 5, **more: Any) -> Any:
    return NewTrade.parse({"user": "alice", "ticker": "AAPL", "transaction_type": side,
                           "transaction_volume": volume, **more})


def test_registration_answers_the_user_and_a_key_shown_once(uow: FakeUnitOfWork) -> None:
    made = register(uow)
    assert (made.user.username, made.user.balance, made.user.available_balance) == ("alice", 1000, 1000)
    assert api_keys.parse(made.key.token) is not None and made.key.key_id in made.key.token
    assert [type(event) for event in uow.published] == [UserRegistered, KeyIssued]
    assert uow.published[1].record.accepts(api_keys.parse(made.key.token)[1])  # type: ignore[index, union-attr]


def test_a_username_is_taken_in_any_case_and_nothing_is_written(uow: FakeUnitOfWork) -> None:
    register(uow)
    with pytest.raises(Conflict):
        register(uow, "ALICE")
    assert len(uow.store.users) == 1 and len(uow.store.keys) == 1 and len(uow.published) == 2


def test_a_user_reads_with_the_market_value_of_their_shares(uow: FakeUnitOfWork) -> None:
    user = register(uow).user
    ingest(uow, price="12.50")
    uow.store.holdings[(user.id, "AAPL")] = Row({"ticker": "AAPL", "quantity": 4, "reserved_quantity": 0,
                                                  "average_entry_price": Decimal("10")})
    account = users.get("alice", uow)
    assert account.market_value == Decimal("50.00") and account.user.balance == 1000
    with pytest.raises(NotFound):
        users.get("bob", uow)


def test_a_stock_is_ingested_once_and_read_in_any_case(uow: FakeUnitOfWork) -> None:
    made = ingest(uow)
    assert isinstance(uow.published[-1], StockIngested) and made.volume == 100
    with pytest.raises(Conflict):
        ingest(uow)
    assert stocks.get("aapl", uow) == made
    with pytest.raises(NotFound):
        stocks.get("MSFT", uow)


def test_stocks_page_by_ticker_with_cursors_this_api_issued(uow: FakeUnitOfWork) -> None:
    for ticker in ("MSFT", "AAPL", "GOOG"):
        ingest(uow, ticker)
    first = stocks.list_all(PageQuery.parse({"limit": "2"}), uow)
    assert [s.ticker for s in first.items] == ["AAPL", "GOOG"] and first.next_cursor is not None
    rest = stocks.list_all(PageQuery.parse({"limit": "2", "cursor": first.next_cursor}), uow)
    assert [s.ticker for s in rest.items] == ["MSFT"] and rest.next_cursor is None
    with pytest.raises(ValidationFailed):
        stocks.list_all(PageQuery.parse({"cursor": "bm90IG91cnM"}), uow)


def test_the_latest_bar_moves_the_price_and_an_older_one_only_joins_the_history(uow: FakeUnitOfWork) -> None:
    stock = ingest(uow)
    later = stock.price_as_of + timedelta(days=1)
    moved = prices.record("aapl", NewBar.parse({"timestamp": later.isoformat(), "open_price": "11", "close_price": "12",
                                                "high": "12", "low": "11", "volume": 7}), uow)
    assert moved.latest and moved.stock.close_price == 12 and moved.stock.volume == 7
    event = uow.published[-1]
    assert isinstance(event, PriceMoved) and event.recorded == moved
    older = prices.record("AAPL", NewBar.parse({"timestamp": "2001-01-01", "open_price": "1", "close_price": "1",
                                                "high": "1", "low": "1", "volume": 1}), uow)
    assert not older.latest and older.stock.close_price == 12
    with pytest.raises(Conflict):
        prices.record("AAPL", NewBar.parse({"timestamp": "2001-01-01", "open_price": "1", "close_price": "1",
                                            "high": "1", "low": "1", "volume": 1}), uow)
    assert [bar.volume for bar in prices.history("AAPL", _range(), uow).items] == [7, 100, 1]


def _range() -> Any:
    from chalicelib.api.classic.shapes import RangeQuery

    return RangeQuery.parse({})


def test_deposits_and_withdrawals_move_the_balance_and_replay_under_their_key(uow: FakeUnitOfWork) -> None:
    register(uow)
    deposit = cash.move("alice", CashKind.DEPOSIT, Decimal("5.00"), "k1", uow)
    assert not deposit.replayed and deposit.value.user.balance == Decimal("1005.00")
    again = cash.move("alice", CashKind.DEPOSIT, Decimal("5.00"), "k1", uow)
    assert again.replayed and again.value.movement == deposit.value.movement
    with pytest.raises(Conflict):
        cash.move("alice", CashKind.DEPOSIT, Decimal("6.00"), "k1", uow)
    with pytest.raises(Refused) as refused:
        cash.move("alice", CashKind.WITHDRAWAL, Decimal("1005.01"), None, uow)
    assert refused.value.code == Reason.INSUFFICIENT_FUNDS
    assert [type(e) for e in uow.published].count(CashMoved) == 1
    feed = activities.list_for_user("alice", (None, None), PageQuery.parse({}), uow).items
    assert [(a.kind, a.amount) for a in feed] == [("deposit", Decimal("5.00"))]


def test_an_order_is_placed_by_the_desk_and_reported_once_it_committed(uow: FakeUnitOfWork) -> None:
    register(uow)
    ingest(uow)
    desk = FakeOrderDesk(uow.store)
    placed = trades.place(order(volume=5), "key-1", uow, desk, CLOCK)
    assert not placed.replayed and placed.value.status == TradeStatus.PENDING
    assert placed.value.reserved_cash == Decimal("50.00") and placed.value.side == Side.BUY
    assert isinstance(uow.published[-1], TradePlaced) and uow.published[-1].trade == placed.value
    replay = trades.place(order(volume=5), "key-1", uow, desk, CLOCK)
    assert replay.replayed and replay.value.id == placed.value.id
    with pytest.raises(Conflict):
        trades.place(order(volume=6), "key-1", uow, desk, CLOCK)
    assert len(uow.store.trades) == 1


@pytest.mark.parametrize(("side", "volume", "reason"), [
    ("buy", 101, Reason.INSUFFICIENT_FUNDS),  # 1010.00 > 1000.00
    ("sell", 1, Reason.INSUFFICIENT_SHARES),
])
def test_an_order_the_desk_cannot_place_is_refused_with_its_reason(uow: FakeUnitOfWork, side: str, volume: int,
                                                                    reason: Reason) -> None:
    register(uow)
    ingest(uow, volume=1000)
    with pytest.raises(Refused) as refused:
        trades.place(order(side, volume), None, uow, FakeOrderDesk(uow.store), CLOCK)
    assert refused.value.code == reason and not uow.store.trades


def test_an_order_for_an_unknown_stock_or_user_is_not_found(uow: FakeUnitOfWork) -> None:
    register(uow)
    with pytest.raises(NotFound):
        trades.place(order(), None, uow, FakeOrderDesk(uow.store), CLOCK)
    with pytest.raises(NotFound):
        trades.place(NewTrade.parse({"user": "bob", "ticker": "AAPL", "transaction_type": "buy",
                                     "transaction_volume": 1}), None, uow, FakeOrderDesk(uow.store), CLOCK)


def test_an_order_that_keeps_failing_for_no_reason_it_can_find_is_a_503_not_a_loop(uow: FakeUnitOfWork) -> None:
    from chalicelib.domain.errors import Unavailable

    register(uow)
    ingest(uow)

    class NeverPlaces:
        calls = 0

        def place(self, ticket: records.Ticket) -> None:
            NeverPlaces.calls += 1

    with pytest.raises(Unavailable):
        trades.place(order(), None, uow, NeverPlaces(), CLOCK)
    assert NeverPlaces.calls == trades.PLACEMENT_ATTEMPTS


def test_history_pages_a_users_trades_newest_first_by_name_or_id(uow: FakeUnitOfWork) -> None:
    user = register(uow).user
    ingest(uow)
    desk = FakeOrderDesk(uow.store)
    placed = [trades.place(order(volume=1), None, uow, desk, CLOCK).value for _ in range(3)]
    page = history.list_for_user(str(user.id).upper(), _trade_page(limit="2"), uow)
    assert [t.id for t in page.items] == [placed[2].id, placed[1].id] and page.next_cursor
    assert history.get_one("alice", placed[0].id, uow).id == placed[0].id
    with pytest.raises(NotFound):
        history.get_one("alice", user.id, uow)


def _trade_page(**query: str) -> Any:
    from chalicelib.api.classic.shapes import TradePageQuery

    return TradePageQuery.parse(query)


def test_positions_page_with_what_is_not_promised_to_sells(uow: FakeUnitOfWork) -> None:
    user = register(uow).user
    ingest(uow, price="20.00")
    uow.store.holdings[(user.id, "AAPL")] = Row({"ticker": "AAPL", "quantity": 10, "reserved_quantity": 3,
                                                  "average_entry_price": Decimal("15")})
    (position,) = portfolio.holdings("alice", PageQuery.parse({}), uow).items
    assert (position.quantity, position.reserved_quantity, position.close_price) == (10, 3, 20)


def test_keys_are_capped_listed_oldest_first_and_the_last_one_is_kept(uow: FakeUnitOfWork,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_KEYS_PER_USER", "3")
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    first = register(uow).key
    second, third = keys.issue("alice", uow), keys.issue("alice", uow)
    with pytest.raises(Conflict):
        keys.issue("alice", uow)
    cache = FakeCache()
    cache.hashes["keys_last_used"] = {second.key_id: "1767225600"}
    listed = keys.list_active("alice", PageQuery.parse({}), uow, cache).items
    assert [k.key_id for k in listed] == [first.key_id, second.key_id, third.key_id]
    assert listed[1].last_used_at is not None and listed[0].last_used_at is None
    held = FakeKeyRecords()
    for key in (first, second):
        assert keys.revoke("alice", key.key_id, third.key_id, uow, held) == key.key_id
    with pytest.raises(Conflict):
        keys.revoke("alice", third.key_id, third.key_id, uow, held)  # the user's last active key
    assert keys.revoke("alice", third.key_id, None, uow, held) == third.key_id  # an admin may
    assert all(record.revoked for record in held.held.values()) and len(held.held) == 3
    assert isinstance(uow.published[-1], KeyRevoked)
    get_settings.cache_clear()


def test_a_revoked_or_forged_token_is_refused_and_a_valid_one_found(uow: FakeUnitOfWork) -> None:
    made = register(uow).key
    held = FakeKeyRecords()
    found = keys.verify(made.token, uow, held)
    assert found is not None and found.username == "alice"
    assert keys.verify(made.token[:-1] + ("A" if made.token[-1] != "A" else "B"), uow, held) is None
    assert keys.verify("tapi.not-a-token", uow, held) is None
    keys.revoke("alice", made.key_id, None, uow, held)
    assert keys.verify(made.token, uow, held) is None
    assert now() > made.created_at
