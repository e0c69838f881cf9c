"""The trade update stream as alpaca-py 0.44.0's TradingStream hears it, unmodified, through the local WebSocket
gateway `make run` serves (devstack/stream_gateway.py: the app's own $connect, $default and $disconnect handlers,
and the Management API), against real PostgreSQL, Redis and the emulator's SQS; the notifier is fed from the
FIFO update queue by the same poller `make run` uses. Protocol details alpaca-py does not show (what comes
before the auth reply, refusals, the close) are read with a bare WebSocket client."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alpaca.trading.stream import TradingStream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from chalicelib.adapters.database import get_engine
from chalicelib.domain.clock import AlwaysOpen, Clock
from chalicelib.services import settlement
from chalicelib.services.unit_of_work import UnitOfWork
from devstack.paths import ROOT
from devstack.poller import SqsPoller
from devstack.services import free_port, wait_for_port
from tests.integration.helpers import body, drain, queue_depth, trade
from tests.integration.test_orders import bar, no_violations

WAIT_S = 20


@pytest.fixture
def stream_url(tmp_path: Path) -> Iterator[str]:
    """The local WebSocket gateway, in a process of its own with this test's environment."""
    port, management = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STREAM_MANAGEMENT_URL": f"http://127.0.0.1:{management}/local"}
    log = open(tmp_path / "gateway.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "devstack.stream_gateway", "--port", str(port),
                                "--management-port", str(management)], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", port, process, "stream gateway", timeout=60)
        wait_for_port("127.0.0.1", management, process, "stream gateway", timeout=10)
        yield f"ws://127.0.0.1:{port}/stream"
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@pytest.fixture
def notifier(sqs: Any, queues: dict[str, str]) -> Iterator[SqsPoller]:
    """The notifier, fed from the update queue as Lambda's event source mapping would."""
    from app import notify_trade_updates

    poller = SqsPoller(sqs, queues["updates"], notify_trade_updates, function_name="tradeapi-local-notify",
                       wait_time_s=1).start()
    yield poller
    poller.stop()


class Trader:
    """One account, a stock of its own, and the calls it makes."""

    def __init__(self, api: Any, sqs: Any, queue: str, *, volume: int = 10_000, cash: str = "100000.00") -> None:
        self.api, self.sqs, self.queue = api, sqs, queue
        self.name, self.ticker = f"s{uuid.uuid4().hex[:10]}", f"S{uuid.uuid4().hex[:5].upper()}"
        self.user_id = body(api.post("/users", {"username": self.name, "balance": cash}))["user_id"]
        created = api.post("/stocks", {"ticker": self.ticker, "open_price": "10.00", "close_price": "10.00",
                                       "high": "10.00", "low": "10.00", "volume": volume}, key=api.admin_key)
        assert created.status_code == 201, created.body
        _, self.key_id, self.secret = api.keys[self.name].split(".", 2)

    def place(self, **order: Any) -> str:
        answer = self.api.post("/transactions", trade(self.name, self.ticker, **order))
        assert answer.status_code == 202, answer.body
        return str(body(answer)["transaction_id"])

    def settle(self) -> None:
        drain(self.sqs, self.queue)

    def bar(self, close: str, volume: int = 10_000) -> None:
        recorded = self.api.post(f"/stocks/{self.ticker}/bars", bar(close, volume=volume), key=self.api.admin_key)
        assert recorded.status_code == 201, recorded.body
        self.settle()

    def listening(self) -> int:
        with UnitOfWork() as uow:
            return len(uow.connections.listening([uuid.UUID(self.user_id)]))

    def listen(self, stream_url: str, key: tuple[str, str] | None = None) -> Listener:
        return Listener(stream_url, *(key or (self.key_id, self.secret)))


class Listener:
    """alpaca-py's TradingStream in a thread of its own, keeping every update it is handed."""

    def __init__(self, url: str, key_id: str, secret: str) -> None:
        self.updates: list[Any] = []
        self.stream = TradingStream(key_id, secret, url_override=url)

        async def keep(update: Any) -> None:
            self.updates.append(update)

        self.stream.subscribe_trade_updates(keep)
        self.thread = threading.Thread(target=self.stream.run, daemon=True)
        self.thread.start()

    def events(self, order_id: str | None = None) -> list[str]:
        return [u.event for u in self.updates if order_id is None or str(u.order.id) == order_id]

    def stop(self) -> None:
        self.request_stop()
        self.thread.join(WAIT_S)

    def request_stop(self) -> None:
        """Stop, and close the socket too: TradingStream alone looks at its stop flag every 5 s."""
        deadline = time.monotonic() + WAIT_S
        while getattr(self.stream, "_loop", None) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stream.stop()
        asyncio.run_coroutine_threadsafe(self.stream.close(), self.stream._loop).result(WAIT_S)


def until(done: Callable[[], bool], what: Callable[[], object], timeout: float = WAIT_S) -> None:
    """Wait (bounded) for `done`; fail saying what was seen."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s; saw {what()}")
        time.sleep(0.05)


def listening_trader(api: Any, sqs: Any, queues: dict[str, str], stream_url: str,
                     **account: Any) -> tuple[Trader, Listener]:
    trader = Trader(api, sqs, queues["queue"], **account)
    listener = trader.listen(stream_url)
    until(lambda: trader.listening() == 1, trader.listening)
    return trader, listener


def bare(stream_url: str) -> ClientConnection:
    return connect(stream_url, open_timeout=WAIT_S, close_timeout=5)


def authenticate(ws: ClientConnection, key_id: str, secret: str) -> dict[str, Any]:
    ws.send(json.dumps({"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret}}))
    return dict(json.loads(ws.recv(timeout=WAIT_S)))


AUTHORIZED = {"stream": "authorization", "data": {"action": "authenticate", "status": "authorized"}}


# --- the protocol --------------------------------------------------------------------------------------------------

def test_nothing_comes_before_the_auth_reply_and_listen_is_answered(api, sqs, queues, stream_url) -> None:
    trader = Trader(api, sqs, queues["queue"])
    with bare(stream_url) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)
        assert authenticate(ws, trader.key_id, trader.secret) == AUTHORIZED
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates", "nope"]}}))
        assert json.loads(ws.recv(timeout=WAIT_S)) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
        ws.ping().wait(WAIT_S)  # pings are answered
    until(lambda: trader.listening() == 0, trader.listening)  # the disconnect forgot it


@given(key_id=st.one_of(st.text(max_size=40), st.integers(), st.none()),
       secret=st.one_of(st.text(max_size=80), st.lists(st.integers(), max_size=3)))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_key_that_does_not_check_is_told_unauthorized_and_closed(api, sqs, queues, stream_url, key_id,
                                                                     secret) -> None:
    with bare(stream_url) as ws:
        ws.send(json.dumps({"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret}}))
        reply = json.loads(ws.recv(timeout=WAIT_S))
        assert reply["stream"] == "authorization" and reply["data"]["status"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=WAIT_S)


@given(frame=st.one_of(st.text(max_size=300), st.binary(max_size=300),
                       st.dictionaries(st.text(max_size=10), st.recursive(
                           st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3)),
                           max_size=4).map(json.dumps)))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_hostile_first_frame_is_refused_and_the_next_connection_is_served(api, sqs, queues, stream_url,
                                                                             frame) -> None:
    with bare(stream_url) as ws:
        ws.send(frame)
        reply = json.loads(ws.recv(timeout=WAIT_S))
        assert reply["data"]["status"] == "unauthorized"
    trader = Trader(api, sqs, queues["queue"])
    with bare(stream_url) as ws:
        assert authenticate(ws, trader.key_id, trader.secret) == AUTHORIZED


def test_a_connection_that_never_authenticates_is_closed(api, sqs, queues, stream_url) -> None:
    from chalicelib.api.alpaca import stream

    trader = Trader(api, sqs, queues["queue"])
    with bare(stream_url) as silent, bare(stream_url) as authenticated:
        assert authenticate(authenticated, trader.key_id, trader.secret) == AUTHORIZED
        assert stream.sweep(datetime.now(UTC) + timedelta(seconds=11)) == 1
        with pytest.raises(ConnectionClosed):
            silent.recv(timeout=WAIT_S)
        authenticated.ping().wait(WAIT_S)  # an authenticated one stays


def test_an_admin_key_is_not_an_account_to_listen_to(api, stream_url) -> None:
    _, key_id, secret = api.admin_key.split(".", 2)
    with bare(stream_url) as ws:
        assert authenticate(ws, key_id, secret)["data"]["status"] == "unauthorized"


# --- the updates ---------------------------------------------------------------------------------------------------

def test_a_market_order_is_new_then_filled(api, sqs, queues, stream_url, notifier) -> None:
    trader, listener = listening_trader(api, sqs, queues, stream_url)
    order_id = trader.place(volume=3)
    trader.settle()
    until(lambda: listener.events(order_id) == ["new", "fill"], listener.events)
    new, fill = listener.updates
    assert str(new.order.id) == order_id and new.order.status == "new" and new.order.symbol == trader.ticker
    assert (fill.order.status, fill.order.filled_qty, fill.qty, fill.price, fill.position_qty) == (
        "filled", "3", 3.0, 10.0, 3.0)
    assert fill.execution_id != new.execution_id and fill.timestamp >= new.timestamp
    listener.stop()


def test_an_order_larger_than_the_volume_on_offer_is_partly_filled_then_filled(api, sqs, queues, stream_url,
                                                                                notifier) -> None:
    trader, listener = listening_trader(api, sqs, queues, stream_url, volume=4)
    order_id = trader.place(volume=10, time_in_force="gtc", order_type="market")
    trader.settle()
    until(lambda: listener.events(order_id) == ["new", "partial_fill"], listener.events)
    trader.bar("11.00", volume=100)
    until(lambda: listener.events(order_id) == ["new", "partial_fill", "fill"], listener.events)
    _, partial, fill = listener.updates
    assert (partial.order.status, partial.qty, partial.price, partial.position_qty) == (
        "partially_filled", 4.0, 10.0, 4.0)
    assert (fill.order.status, fill.order.filled_qty, fill.qty, fill.price, fill.position_qty) == (
        "filled", "10", 6.0, 11.0, 10.0)
    listener.stop()


def test_canceled_replaced_and_expired_orders_are_told(api, sqs, queues, stream_url, notifier) -> None:
    trader, listener = listening_trader(api, sqs, queues, stream_url)
    resting = {"order_type": "limit", "limit_price": "5.00"}
    canceled = trader.place(volume=1, time_in_force="gtc", **resting)
    replaced = trader.place(volume=2, time_in_force="gtc", **resting)
    expiring = trader.place(volume=3, time_in_force="day", **resting)
    trader.settle()
    assert api.delete(f"/transactions/{trader.name}/{canceled}").status_code == 200
    answer = api.patch(f"/transactions/{trader.name}/{replaced}", {"limit_price": "6.00"})
    assert answer.status_code == 200, answer.body
    successor = body(answer)["transaction_id"]
    tomorrow = Clock(AlwaysOpen(), datetime.now(UTC) + timedelta(days=1))
    while settlement.expire_due(UnitOfWork(), tomorrow):
        pass
    until(lambda: (listener.events(canceled), listener.events(replaced), listener.events(expiring),
                   listener.events(successor)) == (["new", "canceled"], ["new", "replaced"], ["new", "expired"],
                                                   ["new"]), listener.events)  # the successor is gtc, as its old
    by_event = {(str(u.order.id), u.event): u for u in listener.updates}
    assert str(by_event[(replaced, "replaced")].order.replaced_by) == successor
    assert str(by_event[(successor, "new")].order.replaces) == replaced
    assert by_event[(canceled, "canceled")].order.canceled_at is not None
    listener.stop()


def test_another_accounts_updates_never_arrive(api, sqs, queues, stream_url, notifier) -> None:
    mine, listener = listening_trader(api, sqs, queues, stream_url)
    theirs, their_listener = listening_trader(api, sqs, queues, stream_url)
    their_orders = [theirs.place(volume=1) for _ in range(3)]
    theirs.settle()
    my_order = mine.place(volume=1)
    mine.settle()
    until(lambda: listener.events(my_order) == ["new", "fill"], listener.events)
    until(lambda: len(their_listener.updates) == 6, their_listener.events)
    assert {str(u.order.id) for u in listener.updates} == {my_order}
    assert {str(u.order.id) for u in their_listener.updates} == set(their_orders)
    listener.stop()
    their_listener.stop()


def test_a_listener_that_vanishes_is_dropped_and_the_others_are_told_everything(api, sqs, queues, stream_url,
                                                                                 notifier) -> None:
    trader, listener = listening_trader(api, sqs, queues, stream_url)
    with bare(stream_url) as doomed:
        assert authenticate(doomed, trader.key_id, trader.secret) == AUTHORIZED
        doomed.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        doomed.recv(timeout=WAIT_S)
        until(lambda: trader.listening() == 2, trader.listening)
        # Registered still, but gone from the gateway: a connection whose disconnect never reached the registry.
        with get_engine().begin() as conn:
            conn.execute(text("INSERT INTO stream_connections (id, endpoint, user_id, listening) "
                              "SELECT 'gone-' || id, endpoint, user_id, true FROM stream_connections "
                              "WHERE user_id = :u LIMIT 1"), {"u": trader.user_id})
        orders = [trader.place(volume=1) for _ in range(2)]
        doomed.socket.close()  # mid-stream, without a close frame
        trader.settle()
        until(lambda: sorted(listener.events()) == sorted(["new", "fill"] * len(orders)), listener.events)
    until(lambda: trader.listening() == 1, trader.listening)  # the vanished ones are forgotten
    assert [body(api.get(f"/transactions/{trader.name}/{o}"))["status"] for o in orders] == ["settled"] * 2
    no_violations({}, {}, all_final=True)
    listener.stop()


def test_the_stream_failing_loses_no_order_and_a_killed_notifier_is_caught_up(api, sqs, queues, stream_url,
                                                                               tmp_path) -> None:
    trader, listener = listening_trader(api, sqs, queues, stream_url)
    # The notifier is a process of its own here, killed mid-batch as a crashed Lambda would be.
    command = [sys.executable, "-m", "devstack.poller", "--queue-url", queues["updates"], "--handler",
               "app:notify_trade_updates", "--batch-window", "0", "--exit-before-delete"]
    crashing = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    orders = [trader.place(volume=1) for _ in range(10)]
    trader.settle()
    crashing.wait(60)  # it posted one batch and died before deleting it
    assert [body(api.get(f"/transactions/{trader.name}/{o}"))["status"] for o in orders] == ["settled"] * 10
    no_violations({}, {}, all_final=True)
    # The rest arrives once a notifier runs again; what the dead one posted comes again (same ids), as SQS says.
    command.remove("--exit-before-delete")
    restarted = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        told = lambda: {(str(u.order.id), u.event) for u in listener.updates}  # noqa: E731
        until(lambda: told() == {(o, e) for o in orders for e in ("new", "fill")}, told, timeout=60)
        for order in orders:  # in order per order, duplicates aside
            events = list(dict.fromkeys(listener.events(order)))
            assert events == ["new", "fill"]
        for order, event in told():  # a repeated update is the same update: one execution_id for it
            assert len({u.execution_id for u in listener.updates
                        if str(u.order.id) == order and u.event == event}) == 1, (order, event)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(30)
    listener.stop()


def test_updates_made_while_away_are_not_replayed_and_the_orders_reconcile_them(api, sqs, queues, stream_url,
                                                                                notifier) -> None:
    trader = Trader(api, sqs, queues["queue"])
    missed = [trader.place(volume=1) for _ in range(2)]
    trader.settle()
    until(lambda: queue_depth(sqs, queues["updates"]) == 0, lambda: "updates still queued")  # told to no one
    listener = trader.listen(stream_url)
    until(lambda: trader.listening() == 1, trader.listening)
    heard = trader.place(volume=1)
    trader.settle()
    until(lambda: listener.events(heard) == ["new", "fill"], listener.events)
    assert {str(u.order.id) for u in listener.updates} == {heard}
    # The recipe the docs give on (re)connecting: the orders since the last update seen.
    reconciled = body(api.get("/v2/orders?status=all&direction=asc", key=api.keys[trader.name]))
    assert [(o["id"], o["status"]) for o in reconciled] == [(o, "filled") for o in [*missed, heard]]
    listener.stop()


def test_orders_are_placed_and_settled_with_the_update_queue_gone(api, sqs, queues, stream_url) -> None:
    trader = Trader(api, sqs, queues["queue"])
    sqs.delete_queue(QueueUrl=queues["updates"])
    orders = [trader.place(volume=1) for _ in range(3)]
    trader.settle()
    assert [body(api.get(f"/transactions/{trader.name}/{o}"))["status"] for o in orders] == ["settled"] * 3


def test_a_hundred_listeners_on_one_account_each_hear_every_update(api, sqs, queues, stream_url, notifier) -> None:
    trader = Trader(api, sqs, queues["queue"])
    listeners = [trader.listen(stream_url) for _ in range(100)]
    until(lambda: trader.listening() == 100, trader.listening, timeout=60)
    orders = [trader.place(volume=1) for _ in range(5)]
    trader.settle()
    wanted = {(o, e) for o in orders for e in ("new", "fill")}
    for listener in listeners:
        until(lambda: {(str(u.order.id), u.event) for u in listener.updates} == wanted,  # noqa: B023
              listener.events)
        assert len(listener.updates) == len(wanted)  # once each, nothing else
    for listener in listeners:
        listener.request_stop()
    for listener in listeners:
        listener.thread.join(WAIT_S)
