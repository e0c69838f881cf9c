"""The events Lambda hands a function: an API Gateway proxy request and an SQS batch, built the way the
services build them, so benchmarks can invoke handlers directly with no emulator in the path."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any


def api_request(method: str, resource: str, path_parameters: dict[str, str] | None = None,
                query: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace(f"{{{name}}}", value)
    headers = {"host": "api.example", "content-type": "application/json"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/api{path}", "stage": "api",
                           "requestId": str(uuid.uuid4())},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def sqs_batch(bodies: list[dict[str, Any]], queue_arn: str = "arn:aws:sqs:us-east-1:000000000000:bench") -> dict:
    now = str(int(time.time() * 1000))
    return {"Records": [
        {"messageId": str(uuid.uuid4()), "receiptHandle": uuid.uuid4().hex, "body": json.dumps(body),
         "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": now, "SenderId": "bench",
                        "ApproximateFirstReceiveTimestamp": now},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
         "awsRegion": "us-east-1"}
        for body in bodies
    ]}
