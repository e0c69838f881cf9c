"""The deploy files agree with `Settings`: the queue names, the redrive count and the CORS origin are said once, in
chalicelib/config.py, and the merge template, the IAM policy and the app's event source are checked against it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from chalicelib.config import Settings, get_settings
from devstack.paths import ROOT

ENVIRONMENT_NAMES = ("TRADE_QUEUE_NAME", "TRADE_DLQ_NAME", "TRADE_MAX_RECEIVE_COUNT", "CORS_ALLOW_ORIGIN", "STAGE")


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The settings a deployed function has when its stage sets none of these."""
    for name in ENVIRONMENT_NAMES:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def resources() -> dict[str, dict]:
    return json.loads((ROOT / ".chalice" / "merge-template.json").read_text())["Resources"]


def stage_settings(monkeypatch: pytest.MonkeyPatch, stage: str) -> Settings:
    monkeypatch.setenv("STAGE", stage)
    get_settings.cache_clear()
    return get_settings()


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_merge_template_declares_the_queues_settings_name(defaults: Settings, monkeypatch, stage: str) -> None:
    queue, dlq = resources()["TradeQueue"]["Properties"], resources()["TradeDeadLetterQueue"]["Properties"]
    named = stage_settings(monkeypatch, stage)
    assert queue["QueueName"]["Fn::Sub"].replace("${Stage}", stage) == named.trade_queue_name
    assert dlq["QueueName"]["Fn::Sub"].replace("${Stage}", stage) == named.trade_dlq_name
    assert queue["RedrivePolicy"]["maxReceiveCount"] == defaults.trade_max_receive_count


def test_local_queues_carry_no_stage(defaults: Settings) -> None:
    assert (defaults.trade_queue_name, defaults.trade_dlq_name) == ("tradeapi-trades", "tradeapi-trades-dlq")


@pytest.mark.parametrize("policy", ["policy-api.json", "policy-relay.json", "policy-consumer.json"])
def test_policies_grant_exactly_the_queues_settings_name(defaults: Settings, monkeypatch, policy: str) -> None:
    statements = json.loads((ROOT / ".chalice" / policy).read_text())["Statement"]
    queue_statements = [s for s in statements if s["Sid"].startswith("TradeQueue")]
    expected = [f"arn:aws:sqs:*:*:{stage_settings(monkeypatch, stage).trade_queue_name}" for stage in ("dev", "prod")]
    assert queue_statements and all(s["Resource"] == expected for s in queue_statements)


def test_app_consumes_the_queue_and_allows_the_origin_settings_name(defaults: Settings) -> None:
    # In a process of its own: the event source and CORS are read when the app is imported.
    probe = ("import json, app; print(json.dumps({"
             "'queues': [s.queue for s in app.app.event_sources if hasattr(s, 'queue')], "
             "'origins': sorted({r.cors.allow_origin for p in app.app.routes.values() for r in p.values()})}))")
    env = {name: value for name, value in os.environ.items() if name not in ENVIRONMENT_NAMES}
    found = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                                      text=True, check=True).stdout)
    assert found == {"queues": [defaults.trade_queue_name, defaults.trade_updates_queue_name],
                     "origins": [defaults.cors_allow_origin]}
