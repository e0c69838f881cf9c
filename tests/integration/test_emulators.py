"""The suite runs on LocalStack; moto server, the fallback, still carries a trade from placement to settlement."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.aws_clients import aws_client
from chalicelib.adapters.trade_queue import get_trade_queue
from chalicelib.config import get_settings
from devstack.aws import MotoServer, ensure_trade_queues, sqs_client
from devstack.services import Service
from tests.integration.conftest import TEST_MAX_RECEIVES, TEST_VISIBILITY_S, Isolation, JsonClient
from tests.integration.helpers import body, drain, seed, trade


def test_the_suite_runs_on_localstack_unless_told_otherwise(aws_service: Service) -> None:
    """Never a silent fallback: where LocalStack cannot run, the suite says so by failing here."""
    if aws_service.origin == "environment":  # AWS_ENDPOINT_URL named the emulator before the session began
        assert aws_service.url == os.environ["AWS_ENDPOINT_URL"]
    else:
        expected = "moto " if os.environ.get("TRADEAPI_EMULATOR") == "moto" else "localstack "
        assert aws_service.kind.startswith(expected)


@pytest.fixture
def moto(tmp_path: Path, isolation: Isolation, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A moto server with this test's queues; the app in this process pointed at it."""
    server = MotoServer(tmp_path / "moto.log")
    try:
        queues = ensure_trade_queues(sqs_client(server.url), get_settings().trade_queue_name,
                                     get_settings().trade_dlq_name, max_receive_count=TEST_MAX_RECEIVES,
                                     visibility_timeout_s=TEST_VISIBILITY_S)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        get_settings.cache_clear()
        aws_client.cache_clear()
        get_trade_queue.cache_clear()
        yield {"url": server.url, **queues}
    finally:
        aws_client.cache_clear()
        get_trade_queue.cache_clear()
        server.stop()


def test_moto_server_carries_a_trade_from_placement_to_settlement(api: JsonClient, moto: dict[str, str]) -> None:
    seed(api, {"alice": "1000.00"}, {"AAPL": ("10.00", 100)})
    placed = body(api.post("/transactions", trade(volume=3)))
    assert drain(sqs_client(moto["url"]), moto["queue"]) == 1
    settled = body(api.get(f"/transactions/alice/{placed['transaction_id']}"))
    assert (settled["status"], settled["total"]) == ("settled", "30.00")
    assert body(api.get("/users/alice"))["balance"] == "970.00"
