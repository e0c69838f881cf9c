"""The local stack as a newcomer runs it (`python -m devstack.run`, what `make run` calls), end to end over HTTP:
a trade placed, settled through the emulator's SQS by the pollers, its story in CloudWatch Logs on the emulator;
then SIGTERM stops every process it started, and a second start reuses the data. And every route, asked over its
HTTP by every kind of caller, answers as the route table says."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psutil

from devstack.cloudwatch import logs_client, read
from devstack.demo import Api
from devstack.paths import ROOT
from devstack.stack_process import StackProcess
from tests.access_table import (
    CREDENTIALS,
    NAMED_RESTING_BUY,
    RESTING_BUY,
    World,
    expected,
    headers_for,
    refusal_code,
    refused_code,
    request_for,
    specs,
)


def call(api: str, method: str, path: str, body: dict | None = None, key: str | None = None) -> tuple[int, Any]:
    return Api(api).call(method, path, body, key)


def test_stack_serves_settles_logs_and_stops_cleanly(stack_env: dict[str, str], tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "devstack", stack_env)
    try:
        api = stack.api
        # The stack file holds the admin key: its owner's alone, like the key's own file.
        assert (tmp_path / "devstack" / "stack.json").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "devstack" / "admin-api-key").stat().st_mode & 0o777 == 0o600
        status, eve = call(api, "POST", "/users", {"username": "eve", "balance": "500"})
        assert status == 201
        key = eve["api_key"]
        assert call(api, "POST", "/stocks", {"ticker": "E2E", "open_price": 5, "close_price": 5, "high": 5, "low": 5},
                    key=key)[0] == 403  # ingesting stocks needs an admin key
        admin = stack.info["admin_api_key"]
        assert call(api, "POST", "/stocks", {"ticker": "E2E", "open_price": 5, "close_price": 5, "high": 5, "low": 5,
                                             "volume": 100}, key=admin)[0] == 201
        assert call(api, "GET", "/users/eve")[0] == 401
        # alpaca-py's TradingStream on the stream make run serves hears the order's updates as they happen.
        from tests.integration.test_trade_stream import Listener, until

        listener = Listener(stack.info["stream_url"], *key.split(".", 2)[1:])
        until(lambda: call(api, "GET", "/health")[0] == 200 and _listening(stack_env, eve["user_id"]),
              lambda: "eve not listening", timeout=60)
        status, placed = call(api, "POST", "/transactions/",
                              {"user": "eve", "ticker": "e2e", "transaction_type": "buy", "transaction_volume": 10},
                              key=key)
        assert status == 202
        trade_id = placed["transaction_id"]
        deadline = time.monotonic() + 60
        while call(api, "GET", f"/transactions/eve/{trade_id}", key=key)[1]["status"] == "pending":
            assert time.monotonic() < deadline, "not settled within 60 s"
            time.sleep(0.3)
        assert call(api, "GET", "/users/eve", key=key)[1]["balance"] == "450.00"
        until(lambda: listener.events(trade_id) == ["new", "fill"], listener.events)
        listener.stop()
        assert call(api, "GET", "/users/eve", key=admin)[1]["balance"] == "450.00"  # an admin may read any user

        logs = logs_client(stack.info["aws_endpoint_url"])
        story: list = []
        deadline = time.monotonic() + 20  # the shipper puts lines every second
        wanted = {"trade_placed", "trade_settled"}
        while time.monotonic() < deadline and wanted - {line.fields()["event"] for line in story}:
            story = [line for line in read(logs, stack.info["log_group_prefix"], 0, trade_id) if line.fields()]
            time.sleep(0.5)
        by_event = {line.fields()["event"]: line for line in story}
        assert by_event["trade_placed"].function == "tradeapi-local-api_handler"
        assert by_event["trade_placed"].fields()["queued"] is True  # one line: placed, and its message sent
        assert by_event["trade_settled"].function == "tradeapi-local-settle_trades"
        assert by_event["trade_settled"].fields()["outcome"] == "settled"
        settle_lines = read(logs, "/aws/lambda/tradeapi-local-settle_trades", 0)
        assert any((line.fields() or {}).get("TradesSettled") for line in settle_lines)  # an EMF line
        invocations = [line.fields() for line in read(logs, "/aws/lambda/tradeapi-local-api_handler", 0, "invocation")]
        assert {"function_name", "request_id", "duration_ms", "outcome"} <= set(invocations[-1])

        logged = subprocess.run([sys.executable, "-m", "devstack.logs", "--filter", trade_id, "--since", "10m"],
                                cwd=ROOT, env=stack_env, capture_output=True, text=True, timeout=60)
        assert "trade_settled" in logged.stdout, logged.stderr  # `make logs` reads the same groups
        health = call(api, "GET", "/health")[1]
        assert health["emulator"] == stack.info["emulator"]
        if not os.environ.get("TRADEAPI_EMULATOR"):
            assert stack.info["emulator"].startswith("localstack ")

        children = stack.descendants()
        assert len(children) >= 5  # gunicorn (+ workers), two pollers, the relay, the emulator
    finally:
        code = stack.stop()
    assert code == 0
    time.sleep(0.5)
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"orphans: {[p.cmdline() for p in alive]}"
    assert not (tmp_path / "devstack" / "stack.json").exists()

    again = StackProcess(tmp_path / "devstack", stack_env)  # a second run reuses the data
    try:
        assert again.info["admin_api_key"] == admin  # the local admin key is kept with the data
        assert call(again.api, "GET", "/users/eve", key=key)[1]["balance"] == "450.00"
    finally:
        assert again.stop() == 0


def test_every_route_answers_each_caller_as_its_rule_says_and_the_demo_runs_over_make_runs_http(
        stack_env: dict[str, str], tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "devstack", {**stack_env, "SIGNUP_LIMIT_PER_WINDOW": "1000"})
    try:
        api, admin = stack.api, stack.info["admin_api_key"]
        keys = {name: call(api, "POST", "/users", {"username": name, "balance": "10000.00"})[1]["api_key"]
                for name in ("alice", "bob")}
        assert call(api, "POST", "/stocks", {"ticker": "AAPL", "open_price": 1, "close_price": 1, "high": 1,
                                             "low": 1, "volume": 1000}, key=admin)[0] == 201
        _settled_buy(api, keys["alice"])  # a position to close
        placed = _canceled_order(api, keys["alice"])
        extra = call(api, "POST", "/users/alice/keys", {}, key=keys["alice"])[1]
        assert call(api, "DELETE", f"/users/alice/keys/{extra['key_id']}", key=keys["alice"])[0] == 200
        world = World(keys["alice"], keys["bob"], admin, extra["api_key"], placed["transaction_id"],
                      lambda: call(api, "POST", "/users/alice/keys", {}, key=keys["alice"])[1]["key_id"],
                      lambda: call(api, "POST", "/transactions", RESTING_BUY, key=keys["alice"])[1]["transaction_id"],
                      call(api, "POST", "/transactions", NAMED_RESTING_BUY, key=keys["alice"])[1]["client_order_id"])
        for spec in specs():
            for credential in CREDENTIALS:
                path, payload = request_for(spec, world)
                status, headers, answer = _raw(api, spec.method, path, headers_for(world, credential), payload)
                assert status == expected(spec, credential), (spec.method, spec.path, credential, answer)
                if status in (401, 403):
                    assert refusal_code(spec, answer, status) == refused_code(spec, status)
                if status == 401:
                    assert headers["www-authenticate"] == "Bearer"
        # `make demo` against the same stack: every step answers as it says, cancel, bars and limits included.
        demo = subprocess.run([sys.executable, "-m", "devstack.demo", "--api", api, "--admin-key", admin], cwd=ROOT,
                              env=stack_env, capture_output=True, text=True, timeout=300)
        assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr
        assert "reason=limit_not_met" in demo.stdout and '"latest": true' in demo.stdout
        assert '"status": "canceled"' in demo.stdout
        # `make demo-alpaca`: an alpaca-py bot buys, rests a limit and a stop, and both fill as bars move.
        bot = subprocess.run([sys.executable, "examples/alpaca_bot.py", "--api", api, "--admin-key", admin], cwd=ROOT,
                             env=stack_env, capture_output=True, text=True, timeout=300)
        assert bot.returncode == 0, bot.stdout[-4000:] + bot.stderr
        assert "the stop triggered and sold 10" in bot.stdout and "equity 9895.00" in bot.stdout
    finally:
        assert stack.stop() == 0


def _settled_buy(api: str, key: str) -> None:
    placed = call(api, "POST", "/transactions", {"user": "alice", "ticker": "AAPL", "transaction_type": "buy",
                                                 "transaction_volume": 10}, key=key)[1]
    deadline = time.monotonic() + 30
    while call(api, "GET", f"/transactions/alice/{placed['transaction_id']}", key=key)[1]["status"] != "settled":
        assert time.monotonic() < deadline, "the buy did not settle within 30 s"
        time.sleep(0.2)


def _canceled_order(api: str, key: str) -> dict[str, Any]:
    """An order of Alice's canceled before the poller settled it (a cancel of it then always answers 200)."""
    for _ in range(10):
        placed = call(api, "POST", "/transactions", {"user": "alice", "ticker": "AAPL", "transaction_type": "buy",
                                                     "transaction_volume": 1}, key=key)[1]
        status, canceled = call(api, "DELETE", f"/transactions/alice/{placed['transaction_id']}", key=key)
        if status == 200:
            assert canceled["status"] == "canceled"
            return canceled
        assert status == 409 and canceled["error"]["code"] == "conflict"  # settled first; try again
    raise AssertionError("ten orders in a row settled before they could be canceled")


def _raw(api: str, method: str, path: str, headers: dict[str, str], payload: bytes) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(api + path, data=payload or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _listening(env: dict[str, str], user_id: str) -> bool:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from chalicelib.services.unit_of_work import UnitOfWork

    engine = create_engine(env["DATABASE_URL"])  # the stack's database, not this process's
    try:
        with UnitOfWork(sessionmaker(engine)) as uow:
            return bool(uow.connections.listening([uuid.UUID(user_id)]))
    finally:
        engine.dispose()
