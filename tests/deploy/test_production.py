"""The generated `prod` template as a production deployment (real AWS cannot be reached here, so the template is
what is tested): bounded concurrency and a database connection budget it fits, an RDS Proxy that requires TLS,
alarms someone receives, a dashboard of the settlement metrics, retained queues and logs, tracing, and a Lambda
package without what only local stages use."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bench.lambda_zip import API_FUNCTION_CONTEXT
from devstack.paths import ROOT

FUNCTIONS = ("APIHandler", "ApiKeyAuthorizer", "SettleTrades", "RelayOutbox", "MarketTick", "WebsocketConnect",
             "WebsocketMessage", "WebsocketDisconnect", "NotifyTradeUpdates", "StreamSweep")
# Database connections one invocation holds at most: with DB_POOL=null (asserted below) a unit of work opens one
# and closes it, and no function runs two at once (placement's one-statement path closes its connection before
# the transactional path opens another; health checks the database on one).
CONNECTIONS_PER_INVOCATION = 1


def test_settlement_is_bounded_and_batches_fill(template: dict) -> None:
    import app

    source = template["Resources"]["SettleTrades"]["Properties"]["Events"]["SettleTradesSqsEventSource"]
    properties = source["Properties"]
    # `chalice deploy` takes these from the decorator; `chalice package` drops MaximumConcurrency, which the merge
    # template restores: both must say the same.
    assert properties["ScalingConfig"] == {"MaximumConcurrency": app.SETTLE_MAX_CONCURRENCY}
    assert 2 <= app.SETTLE_MAX_CONCURRENCY <= 10
    assert properties["MaximumBatchingWindowInSeconds"] == app.SETTLE_BATCHING_WINDOW_S
    assert 1 <= app.SETTLE_BATCHING_WINDOW_S <= 2 and properties["BatchSize"] == app.SETTLE_BATCH_SIZE == 10


def test_worst_case_database_connections_fit_the_proxy_budget(template: dict) -> None:
    resources, parameters = template["Resources"], template["Parameters"]
    concurrency = {}
    for name in FUNCTIONS:
        properties = resources[name]["Properties"]
        assert properties["Environment"]["Variables"]["DB_POOL"] == "null", name  # no pool kept per container
        if name in ("SettleTrades", "NotifyTradeUpdates"):
            events = properties["Events"][f"{name}SqsEventSource"]["Properties"]
            concurrency[name] = events["ScalingConfig"]["MaximumConcurrency"]
        else:
            concurrency[name] = properties["ReservedConcurrentExecutions"]
    worst = sum(concurrency.values()) * CONNECTIONS_PER_INVOCATION
    pool = resources["DatabaseProxyTargetGroup"]["Properties"]["ConnectionPoolConfigurationInfo"]
    budget = parameters["DatabaseMaxConnections"]["Default"] * pool["MaxConnectionsPercent"] // 100
    print(f"worst case {worst} database connections ({concurrency}) against a proxy budget of {budget}")
    assert worst <= budget, (concurrency, budget)
    # Every connection is pinned (the session's statement timeout is set at connect), so the proxy cannot
    # multiplex: the budget must hold every concurrent invocation at once, with room for migrations and people.
    assert budget - worst >= 10


def test_the_proxy_requires_tls_and_is_the_only_reader_of_the_database_secret(template: dict) -> None:
    resources = template["Resources"]
    proxy = resources["DatabaseProxy"]["Properties"]
    assert proxy["EngineFamily"] == "POSTGRESQL" and proxy["RequireTLS"] is True
    assert proxy["Auth"] == [{"AuthScheme": "SECRETS", "SecretArn": {"Ref": "DatabaseSecretArn"},
                              "IAMAuth": "DISABLED"}]
    statements = resources["DatabaseProxyRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements == [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                           "Resource": {"Ref": "DatabaseSecretArn"}}]
    targets = resources["DatabaseProxyTargetGroup"]["Properties"]
    assert targets["DBInstanceIdentifiers"] == [{"Ref": "DatabaseInstanceId"}]
    assert "DatabaseProxyEndpoint" in template["Outputs"]


def test_every_function_keeps_its_logs_for_a_month(template: dict) -> None:
    resources = template["Resources"]
    groups = {r["Properties"]["LogGroupName"]["Fn::Sub"]: r for r in resources.values()
              if r["Type"] == "AWS::Logs::LogGroup" and r["Properties"]["LogGroupName"]["Fn::Sub"].startswith(
                  "/aws/lambda/")}
    # Named after each function's logical id as the template spells it (APIHandler, not ApiHandler).
    assert set(groups) == {f"/aws/lambda/${{{name}}}" for name in FUNCTIONS}
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == 30 and group["DeletionPolicy"] == "Retain"


ALARMS = {
    # metric -> what it watches
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): "the dead-letter queue",
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): "the trade queue",
    ("AWS/ApiGateway", "5XXError"): "the API",
}


def test_alarms_reach_someone(template: dict) -> None:
    resources = template["Resources"]
    topic = resources["AlarmTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Properties"]["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["AlarmDescription"], name
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms.values() if "MetricName" in a}
    assert set(ALARMS) <= watched
    dead_letters = alarms["DeadLetterQueueAlarm"]
    assert dead_letters["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["TradeDeadLetterQueue", "QueueName"]}
    assert (dead_letters["Threshold"], dead_letters["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    for function in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            assert any(a.get("MetricName") == metric and a["Dimensions"] == [{"Name": "FunctionName",
                                                                               "Value": {"Ref": function}}]
                       for a in alarms.values()), (function, metric)
    proxy = alarms["ProxyConnectionsAlarm"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in proxy["Metrics"] if "MetricStat" in m} == {
        "DatabaseConnections", "MaxDatabaseConnectionsAllowed"}


def test_the_dashboard_shows_every_settlement_metric_the_consumer_emits(template: dict) -> None:
    body = json.loads(template["Resources"]["SettlementDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    shown = {metric[1] for widget in body["widgets"] for metric in widget["properties"]["metrics"]
             if metric[0] == "tradeapi"}
    consumer = (ROOT / "chalicelib" / "api" / "consumer.py").read_text()
    emitted = set(re.findall(r'"(Trades\w+|SettlementLatency|BookOrdersChanged)"', consumer))
    assert emitted and shown == emitted


def test_functions_are_traced_and_the_api_answers_within_api_gateways_limit(template: dict) -> None:
    resources = template["Resources"]
    for name in FUNCTIONS:
        assert resources[name]["Properties"]["Tracing"] == "Active", name
        role = resources[name]["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        assert any("xray:PutTraceSegments" in s["Action"] for s in statements), role
        # Powertools Tracer traces inside the code (chalicelib/adapters/tracing.py) unless this says otherwise.
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        assert variables.get("POWERTOOLS_TRACE_DISABLED", "false") == "false" and variables[
            "POWERTOOLS_SERVICE_NAME"] == "tradeapi", name
    assert resources["APIHandler"]["Properties"]["Timeout"] < 29  # API Gateway gives up at 29 s
    assert resources["ApiKeyAuthorizer"]["Properties"]["Timeout"] < 29


def test_queues_outlive_the_stack_with_an_explicit_retention(template: dict) -> None:
    resources = template["Resources"]
    for name in ("TradeQueue", "TradeDeadLetterQueue"):
        assert resources[name]["DeletionPolicy"] == resources[name]["UpdateReplacePolicy"] == "Retain"
        assert resources[name]["Properties"]["MessageRetentionPeriod"] > 0
    # A dead-lettered message outlives the main queue's retention, so a redrive after a fix finds it.
    assert (resources["TradeDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
            > resources["TradeQueue"]["Properties"]["MessageRetentionPeriod"])


def test_no_role_grants_on_every_resource_of_a_service(template: dict) -> None:
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
                    statement["Resource"]]
                for arn in resources:
                    if isinstance(arn, str) and arn != "*":
                        assert not arn.startswith("arn:*") and not re.fullmatch(r"arn:aws:\w+:\*:\*:\*", arn), \
                            (name, arn)
                    if arn == "*":  # only actions that take no resource (network interfaces, tracing)
                        assert all(a.startswith(("ec2:", "xray:")) for a in statement["Action"]), (name, statement)


def test_the_lambda_package_leaves_out_what_only_local_stages_use(package_dir: Path) -> None:
    archive = package_dir / "deployment.zip"
    with zipfile.ZipFile(archive) as zipped:
        top = {name.split("/")[0] for name in zipped.namelist()}
    assert not top & {"botocore", "boto3", "localstack_client", "moto", "s3transfer"}
    size_mb = archive.stat().st_size / 2**20
    print(f"Lambda package: {size_mb:.1f} MiB")
    # 20.5 MiB, 7.8 of them bytecode; 28.8 MiB with localstack-client (and botocore) in it, before bytecode.
    assert size_mb < 24, f"{size_mb:.1f} MiB"
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
    modules = [name for name in names if name.endswith(".py")]
    assert modules and not [name for name in modules if _bytecode_of(name) not in names]


def _bytecode_of(module: str) -> str:
    folder, _, file = module.rpartition("/")
    tag = sys.implementation.cache_tag
    return f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc" if folder else f"__pycache__/{file[:-3]}.{tag}.pyc"



def test_every_function_runs_in_the_vpc_and_reaches_its_services_through_endpoints(template: dict) -> None:
    resources = template["Resources"]
    for name in FUNCTIONS:
        assert resources[name]["Properties"]["VpcConfig"] == {
            "SubnetIds": {"Ref": "PrivateSubnetIds"}, "SecurityGroupIds": {"Ref": "FunctionSecurityGroupIds"}}
        role = resources[resources[name]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert role["ManagedPolicyArns"] == [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}]
    endpoints = {r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]: r["Properties"]
                 for r in resources.values() if r["Type"] == "AWS::EC2::VPCEndpoint"}
    # Without the SQS endpoint every send from inside the VPC hangs and no trade ever settles.
    assert set(endpoints) == {"sqs", "logs", "secretsmanager"}
    for endpoint in endpoints.values():
        assert endpoint["VpcEndpointType"] == "Interface" and endpoint["PrivateDnsEnabled"] is True
        assert endpoint["SubnetIds"] == {"Ref": "PrivateSubnetIds"}


def test_credentials_are_secrets_and_connections_verify_tls(template: dict) -> None:
    resources = template["Resources"]
    for name in FUNCTIONS:
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        assert variables["DATABASE_SECRET_ARN"] == {"Ref": "DatabaseSecretArn"}
        assert variables["REDIS_SECRET_ARN"] == {"Ref": "RedisSecretArn"}
        assert variables["DB_SSL"] == "verify" and variables["REDIS_URL"]["Fn::Sub"].startswith("rediss://")
        # Where to connect, never who: the URL holds no user or password.
        assert variables["DATABASE_URL"] == {
            "Fn::Sub": "postgresql+pg8000://${DatabaseProxy.Endpoint}:5432/${DatabaseName}"}
    readers = resources["FunctionSecretsPolicy"]["Properties"]
    assert {r["Ref"] for r in readers["Roles"]} == {f"{name}Role".replace("APIH", "ApiH") for name in FUNCTIONS}
    assert readers["PolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [{"Ref": "DatabaseSecretArn"}, {"Ref": "RedisSecretArn"}]}]
    config = (ROOT / ".chalice" / "config.json").read_text()
    text = json.dumps(template) + config
    assert not re.search(r"(?i)(password|secret_key|auth_token)\W+\w", text.replace("DatabaseSecretArn", "")
                         .replace("RedisSecretArn", ""))


# The functions that check keys: the API, the authorizer and the stream's authentication.
KEY_READERS = ("APIHandler", "ApiKeyAuthorizer", "WebsocketMessage")


def test_cached_key_records_are_signed_by_a_secret_only_the_key_handlers_read(template: dict) -> None:
    """The key that signs cached key records is generated by Secrets Manager, never a parameter or a literal, and
    only the functions that write or read key records (the API, the authorizer, the stream) may read it; Redis is
    reached over TLS with an AUTH token (above)."""
    resources = template["Resources"]
    secret = resources["CacheSigningSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    for name in FUNCTIONS:
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        wanted = {"Ref": "CacheSigningSecret"} if name in KEY_READERS else None
        assert variables.get("CACHE_SIGNING_SECRET_ARN") == wanted, name
        assert "CACHE_SIGNING_KEY" not in variables
    policy = resources["CacheSigningSecretPolicy"]["Properties"]
    assert {r["Ref"] for r in policy["Roles"]} == {f"{name}Role".replace("APIH", "ApiH") for name in KEY_READERS}
    assert policy["PolicyDocument"]["Statement"] == [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                                                      "Resource": [{"Ref": "CacheSigningSecret"}]}]


def test_the_api_writes_access_logs_and_traces(template: dict) -> None:
    api = template["Resources"]["RestAPI"]["Properties"]
    assert api["TracingEnabled"] is True
    setting = api["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    logged = json.loads(setting["Format"])  # one JSON line per request, as the functions log
    assert {"requestId", "status", "latency_ms", "principal", "path"} <= set(logged)
    assert template["Resources"]["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == 30


ROLES = {"APIHandler": ("ApiHandlerRole", "policy-api.json"),
         "ApiKeyAuthorizer": ("ApiKeyAuthorizerRole", "policy.json"),
         "SettleTrades": ("SettleTradesRole", "policy-consumer.json"),
         "RelayOutbox": ("RelayOutboxRole", "policy-relay.json"),
         "MarketTick": ("MarketTickRole", "policy-tick.json"),
         "WebsocketConnect": ("WebsocketConnectRole", "policy.json"),
         "WebsocketMessage": ("WebsocketMessageRole", "policy-stream.json"),
         "WebsocketDisconnect": ("WebsocketDisconnectRole", "policy.json"),
         "NotifyTradeUpdates": ("NotifyTradeUpdatesRole", "policy-notifier.json"),
         "StreamSweep": ("StreamSweepRole", "policy-stream.json")}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_role_reaches_only_this_stacks_queue_and_its_own_log_group(template: dict, function: str) -> None:
    resources = template["Resources"]
    role, policy_file = ROLES[function]
    statements = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    for statement in statements:
        if any(action.startswith("sqs:") for action in statement["Action"]):
            assert statement["Resource"] in ({"Fn::GetAtt": ["TradeQueue", "Arn"]},
                                             {"Fn::GetAtt": ["TradeUpdatesQueue", "Arn"]})
    assert not any(action.startswith("logs:") for s in statements for action in s["Action"])
    logs = [r["Properties"] for r in resources.values()
            if r["Type"] == "AWS::IAM::Policy" and r["Properties"]["Roles"] == [{"Ref": role}]]
    assert logs == [{"PolicyName": f"{function}Logs", "Roles": [{"Ref": role}], "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Sid": "Logs", "Effect": "Allow",
                                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                                "Resource": {"Fn::GetAtt": [f"{function}LogGroup", "Arn"]}}]}}]
    # The template says what the policy file (`chalice deploy`'s) says, scoped to this stack.
    in_file = [s for s in json.loads((ROOT / ".chalice" / policy_file).read_text())["Statement"] if s["Sid"] != "Logs"]
    assert [s["Sid"] for s in statements] == [s["Sid"] for s in in_file]
    assert [s["Action"] for s in statements] == [s["Action"] for s in in_file]


# Run by the zip's own code, with nothing on the path but the zip, what Lambda's runtime ships beside it and the
# standard library: import the app, answer a request as the API function, and load what the other functions load.
_IN_THE_ZIP = '''
import json, os, sys
import importlib._bootstrap_external as loading
compiled = []  # modules compiled from source: those the zip holds no bytecode for
source_to_code = loading.SourceLoader.source_to_code
def compiling(self, data, path, **options):
    compiled.append(path)
    return source_to_code(self, data, path, **options)
loading.SourceLoader.source_to_code = compiling
sys.path[:0] = [os.environ["LAMBDA_TASK_ROOT"], os.environ["RUNTIME_PACKAGES"]]
import app
from chalicelib.adapters import tracing
import chalicelib.api.consumer, chalicelib.services.trades, chalicelib.adapters.database, pg8000, redis
import sqlalchemy.dialects.postgresql.pg8000
from datetime import date
from chalicelib.domain.clock import Nyse  # the market clock's NYSE calendar, from the slimmed holidays package
assert Nyse().session_on(date(2026, 12, 25)) is None and Nyse().session_on(date(2026, 12, 24)) is not None
''' + API_FUNCTION_CONTEXT + '''
answer = app.app(json.loads(sys.argv[1]), Context())
tracing.trace_sql()
roots = (os.environ["LAMBDA_TASK_ROOT"], os.environ["RUNTIME_PACKAGES"], sys.base_prefix)
outside = sorted(m.__name__ for m in list(sys.modules.values())
                 if getattr(m, "__file__", None) and not os.path.abspath(m.__file__).startswith(roots))
print(json.dumps({"status": answer["statusCode"], "traced": tracing.get_tracer() is not None, "outside": outside,
                  "compiled": [path for path in compiled if path.startswith(os.environ["LAMBDA_TASK_ROOT"])]}))
'''


def test_the_slimmed_zip_runs_traced_with_only_what_lambdas_runtime_ships_beside_it(package_dir: Path,
                                                                                    tmp_path: Path) -> None:
    import botocore

    from bench.lambda_events import api_request
    from devstack.package import RUNTIME_PROVIDED
    from devstack.xray_daemon import XRayDaemon, trace_header

    task, runtime = tmp_path / "task", tmp_path / "runtime"
    with zipfile.ZipFile(package_dir / "deployment.zip") as zipped:
        zipped.extractall(task)
    runtime.mkdir()
    site_packages = Path(botocore.__file__).parent.parent
    for name in RUNTIME_PROVIDED:  # as /var/runtime holds them
        (runtime / name).symlink_to(site_packages / name)
    header, parent = trace_header()
    with XRayDaemon() as daemon:
        result = subprocess.run(
            [sys.executable, "-S", "-c", _IN_THE_ZIP, json.dumps(api_request("GET", "/openapi.json"))],
            cwd=task, capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "LAMBDA_TASK_ROOT": str(task), "RUNTIME_PACKAGES": str(runtime),
                 "STAGE": "prod", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                 "POWERTOOLS_SERVICE_NAME": "tradeapi", "DB_POOL": "null",
                 "AWS_XRAY_DAEMON_ADDRESS": daemon.address, "_X_AMZN_TRACE_ID": header,
                 "PYTHONDONTWRITEBYTECODE": "1"})
        assert result.returncode == 0, result.stderr[-3000:]
        segments = daemon.received()
    ran = json.loads(result.stdout.strip().splitlines()[-1])
    # Nothing from the zip was compiled: /var/task is read-only, so what is compiled there is compiled again at
    # every cold start (PYTHONDONTWRITEBYTECODE stands in for that below).
    assert ran == {"status": 200, "traced": True, "outside": [], "compiled": []}
    (function,) = [s for s in segments if s.name == "## tradeapi-prod-APIHandler"]
    assert function.parent_id == parent and function.annotations["outcome"] == 200
    with zipfile.ZipFile(package_dir / "deployment.zip") as zipped:
        top = {name.split("/")[0].split("-")[0] for name in zipped.namelist()}
    assert {"aws_xray_sdk", "wrapt", "aws_lambda_powertools"} <= top and not top & set(RUNTIME_PROVIDED)
