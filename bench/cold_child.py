"""One cold start, in a fresh process: import an app module, answer one GET /stocks/{ticker} through its Lambda
handler, and report the times and what the import loaded. The parent times the whole process too.

    PYTHONPATH=MODULE_DIR python -m bench.cold_child MODULE [authorizer | warm]

With `authorizer`, the first call is the app's authorizer checking BENCH_API_KEY, as its Lambda function would.
With `warm`, the same GET is then answered WARM_RUNS more times, and the median of those is reported too.
"""
from __future__ import annotations

import time

started = time.perf_counter()

import importlib  # noqa: E402 - the clock starts before anything is imported
import json  # noqa: E402 - the clock starts before anything is imported
import sys  # noqa: E402 - the clock starts before anything is imported

HEAVY = ("sqlalchemy", "pg8000", "pydantic", "redis", "boto3", "botocore.session", "aws_xray_sdk.core")
WARM_RUNS = 300


def main() -> None:
    module = importlib.import_module(sys.argv[1])
    imported = time.perf_counter()
    loaded_at_import = [name for name in HEAVY if name in sys.modules]
    created_at_import = _created()

    from bench.lambda_events import api_request
    from devstack.lambda_context import LambdaContext

    if sys.argv[2:] == ["authorizer"]:
        import os

        policy = module.api_key_authorizer(
            {"type": "TOKEN", "authorizationToken": f"Bearer {os.environ['BENCH_API_KEY']}",
             "methodArn": "arn:aws:execute-api:us-east-1:000000000000:api/api/GET/users/alice"},
            LambdaContext(function_name="bench-api_key_authorizer"))
        answer = {"statusCode": 200 if policy["policyDocument"]["Statement"][0]["Effect"] == "Allow" else 403}
    else:
        answer = module.app(api_request("GET", "/stocks/{ticker}", {"ticker": "AAPL"}),
                            LambdaContext(function_name="bench-api_handler"))
    answered = time.perf_counter()
    print("BENCH " + json.dumps({
        "import_ms": (imported - started) * 1000,
        "first_ms": (answered - imported) * 1000,
        "total_ms": (answered - started) * 1000,
        "status": answer["statusCode"],
        "loaded_at_import": loaded_at_import,
        "created_at_import": created_at_import,
        "loaded_after_first": [name for name in HEAVY if name in sys.modules],
    }), flush=True)
    if sys.argv[2:] == ["warm"]:  # after the cold figures are out, so they do not include this
        warm: list[float] = []
        for _ in range(WARM_RUNS):
            request = api_request("GET", "/stocks/{ticker}", {"ticker": "AAPL"})
            before = time.perf_counter()
            assert module.app(request, LambdaContext(function_name="bench-api_handler"))["statusCode"] == 200
            warm.append((time.perf_counter() - before) * 1e6)
        print("WARM " + json.dumps(sorted(warm)[len(warm) // 2]), flush=True)


def _created() -> list[str]:
    """Clients the app created before it was asked anything (none should be)."""
    lazies = (("chalicelib.adapters.database", "get_database"), ("chalicelib.adapters.redis_client", "get_redis"),
              ("chalicelib.adapters.trade_queue", "get_trade_queue"), ("chalicelib.adapters.aws_clients", "aws_client"))
    return [f"{module}.{name}" for module, name in lazies
            if module in sys.modules and getattr(sys.modules[module], name).built]


if __name__ == "__main__":
    main()
