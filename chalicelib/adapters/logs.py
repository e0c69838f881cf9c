"""CloudWatch-style structured JSON logs (aws-lambda-powertools Logger), shared by every function, and metrics in
CloudWatch Embedded Metric Format (one JSON line per flush, no API call)."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import Logger

from chalicelib.config import get_settings
from chalicelib.lazy import lazy

NAMESPACE = "tradeapi"


@lazy
def get_logger() -> Logger:
    return Logger(service="tradeapi", level=get_settings().log_level)


@lazy
def get_metrics() -> Any:
    """Settlement metrics (powertools Metrics), namespace `tradeapi`; loaded only by the consumer."""
    from aws_lambda_powertools.metrics import Metrics

    return Metrics(namespace=NAMESPACE, service="settlement")


def count(metric: str, service: str) -> None:
    """One EMF line counting one occurrence of `metric` now, in any function (an alarm watches it), without waiting
    for a batch's flush."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=metric, unit=MetricUnit.Count, value=1, namespace=NAMESPACE,
                       default_dimensions={"service": service}):
        pass
