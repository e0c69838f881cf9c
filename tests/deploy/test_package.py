"""`chalice package` with the merge template: the SQS event source reports partial batch failures, the queue and
its dead-letter queue are declared with a redrive policy, and the outbox relay runs on a schedule."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.paths import ROOT


@pytest.mark.parametrize("checks", [[], ["--include-checks", "I"]], ids=["errors and warnings", "informational too"])
def test_template_passes_cfn_lint(package_dir: Path, checks: list[str]) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), *checks, "--", str(package_dir / "sam.json")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_every_function_is_declared(template: dict) -> None:
    functions = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == {"APIHandler", "ApiKeyAuthorizer", "SettleTrades", "RelayOutbox", "MarketTick",
                         "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect", "NotifyTradeUpdates",
                         "StreamSweep"}


def test_every_route_that_needs_a_key_goes_through_the_authorizer(template: dict) -> None:
    from app import routes
    from chalicelib.api.access import PUBLIC

    definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    authorizer = definition["securityDefinitions"]["api_key_authorizer"]
    # A REQUEST authorizer (handed every header and the caller's address), whose answer API Gateway never caches:
    # with no identity source it is called for every request, credentials or not, and a revoke holds at once.
    assert authorizer["x-amazon-apigateway-authorizer"]["type"] == "request"
    assert authorizer["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"] == 0
    assert "identitySource" not in authorizer["x-amazon-apigateway-authorizer"]
    for spec in routes.specs:
        operation = definition["paths"][spec.path][spec.method.lower()]
        assert operation.get("security", []) == ([] if spec.access == PUBLIC else [{"api_key_authorizer": []}]), \
            f"{spec.method} {spec.path}"


def test_the_stage_is_throttled(template: dict) -> None:
    settings = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    assert settings == [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 100,
                         "ThrottlingBurstLimit": 200}]


def test_consumer_reports_partial_batch_failures_from_the_declared_queue(template: dict) -> None:
    resources = template["Resources"]
    consumer = resources["SettleTrades"]
    source = consumer["Properties"]["Events"]["SettleTradesSqsEventSource"]
    assert source["Type"] == "SQS"
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["BatchSize"] == 10
    # The queue the app was packaged for is the one the template names for the stage deployed.
    queue_name = resources["TradeQueue"]["Properties"]["QueueName"]["Fn::Sub"].replace("${Stage}", "prod")
    assert source["Properties"]["Queue"]["Fn::Sub"].endswith(f":{queue_name}") and queue_name.endswith("-prod")
    assert template["Parameters"]["Stage"]["AllowedValues"] == ["dev", "prod"]
    assert "TradeQueue" in consumer["DependsOn"]


def test_queue_redrives_to_the_dead_letter_queue_and_outlasts_the_consumer(template: dict) -> None:
    resources = template["Resources"]
    queue = resources["TradeQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["TradeDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
    assert resources["TradeDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    # AWS's guidance: visibility timeout at least six times the consumer's timeout.
    assert queue["VisibilityTimeout"] >= 6 * resources["SettleTrades"]["Properties"]["Timeout"]


@pytest.mark.parametrize("function", ["RelayOutbox", "MarketTick"])
def test_the_outbox_relay_and_the_market_tick_run_every_minute(template: dict, function: str) -> None:
    events = template["Resources"][function]["Properties"]["Events"]
    assert [(e["Type"], e["Properties"]["Schedule"]) for e in events.values()] == [("Schedule", "rate(1 minute)")]


def test_the_relay_sweeps_every_few_seconds_and_ends_before_its_next_run(template: dict) -> None:
    """EventBridge runs the relay once a minute; inside each run it sweeps every few seconds, so a message the API
    missed waits seconds, not a minute, and the run ends (timeout included) before the next one starts (reserved
    concurrency 1: an overlapping run would be throttled)."""
    relay = template["Resources"]["RelayOutbox"]["Properties"]
    variables = relay["Environment"]["Variables"]
    sweep_s, every_s = float(variables["OUTBOX_RELAY_SWEEP_S"]), float(variables["OUTBOX_RELAY_EVERY_S"])
    assert every_s <= 5 and sweep_s >= 30
    assert sweep_s + every_s + 5 <= relay["Timeout"] <= 60
    assert relay["ReservedConcurrentExecutions"] == 1
    assert relay["MemorySize"] <= 256  # it waits, mostly: a minute of it costs what 15 s of the API's size would


def test_api_gateway_answers_its_own_errors_in_the_api_error_shape(template: dict) -> None:
    from chalicelib.api.gateway import GATEWAY_RESPONSES

    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in template["Resources"].values()
                 if r["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert set(responses) == set(GATEWAY_RESPONSES)
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"  # no such route
    for response in responses.values():
        assert response["RestApiId"] == {"Ref": "RestAPI"} and "RestAPI" in template["Resources"]
        assert set(json.loads(response["ResponseTemplates"]["application/json"])["error"]) == {
            "code", "message", "details"}


QUEUE_ACTIONS = {
    # The API and the relay send settlement messages; only the consumer receives and deletes them; the authorizer
    # never touches a queue. What changes orders (the API, settlement, the tick's expiry) publishes trade updates;
    # only the notifier receives them.
    "ApiHandlerRole": {"TradeQueue": {"sqs:GetQueueUrl", "sqs:SendMessage"},
                       "TradeUpdatesQueue": {"sqs:GetQueueUrl", "sqs:SendMessage"}},
    "RelayOutboxRole": {"TradeQueue": {"sqs:GetQueueUrl", "sqs:SendMessage"}},
    "MarketTickRole": {"TradeQueue": {"sqs:GetQueueUrl", "sqs:SendMessage"},  # book messages
                       "TradeUpdatesQueue": {"sqs:GetQueueUrl", "sqs:SendMessage"}},
    "SettleTradesRole": {"TradeQueue": {"sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage",
                                        "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"},
                         "TradeUpdatesQueue": {"sqs:GetQueueUrl", "sqs:SendMessage"}},
    "NotifyTradeUpdatesRole": {"TradeUpdatesQueue": {"sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                                                     "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                                     "sqs:ChangeMessageVisibility"}},
    "ApiKeyAuthorizerRole": {},
    "WebsocketConnectRole": {},
    "WebsocketMessageRole": {},
    "WebsocketDisconnectRole": {},
    "StreamSweepRole": {},
}


@pytest.mark.parametrize("role", sorted(QUEUE_ACTIONS))
def test_each_function_may_do_with_the_queues_exactly_what_it_needs(template: dict, role: str) -> None:
    statements = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    on_queues: dict[str, set[str]] = {}
    for statement in statements:
        queue_actions = {a for a in statement["Action"] if a.startswith("sqs:")}
        if queue_actions:
            on_queues.setdefault(statement["Resource"]["Fn::GetAtt"][0], set()).update(queue_actions)
    assert on_queues == QUEUE_ACTIONS[role]
    actions = {a for s in statements for a in s["Action"]}
    assert not [a for a in actions if a.endswith(":*") or a == "*"]


def test_the_stream_is_a_websocket_api_whose_connections_only_its_functions_manage(template: dict) -> None:
    resources = template["Resources"]
    assert resources["WebsocketAPI"]["Properties"]["ProtocolType"] == "WEBSOCKET"
    routes = {r["Properties"]["RouteKey"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    assert routes == {"$connect", "$default", "$disconnect"}
    stage = resources["WebsocketAPIStage"]["Properties"]
    assert stage["StageName"] == "api" and stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    managers = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in resource["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
            if "execute-api:ManageConnections" in statement["Action"]:
                assert statement["Action"] == ["execute-api:ManageConnections"]
                # This API's connections only, by method: never another API's, never *.
                for arn in statement["Resource"]:
                    assert "${WebsocketAPI}/api/" in arn["Fn::Sub"] and arn["Fn::Sub"].endswith("/@connections/*")
                managers[name] = {arn["Fn::Sub"].split("/")[2] for arn in statement["Resource"]}
    assert managers == {"WebsocketMessageRole": {"POST", "DELETE"}, "NotifyTradeUpdatesRole": {"POST"},
                        "StreamSweepRole": {"DELETE"}}


def test_the_update_queue_is_fifo_and_redrives_to_a_fifo_dead_letter_queue(template: dict) -> None:
    resources = template["Resources"]
    queue, dlq = resources["TradeUpdatesQueue"]["Properties"], resources["TradeUpdatesDeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] and dlq["FifoQueue"]
    assert queue["QueueName"]["Fn::Sub"].endswith(".fifo") and dlq["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["TradeUpdatesDeadLetterQueue", "Arn"]}
    notifier = resources["NotifyTradeUpdates"]["Properties"]
    assert notifier["Timeout"] * 6 <= queue["VisibilityTimeout"]
    source = notifier["Events"]["NotifyTradeUpdatesSqsEventSource"]["Properties"]
    assert source["Queue"]["Fn::Sub"].endswith(":tradeapi-trades-prod-updates.fifo")
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    alarms = {r["Properties"]["Dimensions"][0]["Value"].get("Ref") for r in resources.values()
              if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "Errors"}
    assert {"NotifyTradeUpdates", "WebsocketMessage"} <= alarms


def test_compose_file_pins_images_and_checks_health() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "localstack"}
    for name, service in services.items():
        image = service["image"].replace("${LOCALSTACK_IMAGE:-", "").rstrip("}")
        assert ":" in image and not image.endswith(":latest"), f"{name} image must be pinned: {image}"
        assert service["healthcheck"]["test"], f"{name} needs a health check"
    assert "LOCALSTACK_AUTH_TOKEN" in services["localstack"]["environment"]
    # Redis asks for a password, and compose refuses to start it without one.
    assert "--requirepass" in services["redis"]["command"]
    assert "${REDIS_PASSWORD:?" in services["redis"]["command"][services["redis"]["command"].index("--requirepass") + 1]
    assert "sqs" in services["localstack"]["environment"]["SERVICES"]


def test_compose_runs_the_localstack_version_host_mode_installs() -> None:
    import yaml

    from devstack.localstack.host import REQUIREMENTS, VERSION

    image = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["localstack"]["image"]
    assert image == "${LOCALSTACK_IMAGE:-localstack/localstack:" + VERSION + "}"
    assert f"localstack-core[base-runtime]=={VERSION}" in REQUIREMENTS.read_text().splitlines()
