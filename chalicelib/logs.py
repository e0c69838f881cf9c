"""CloudWatch-style structured JSON logging (aws-lambda-powertools Logger), shared by every function."""
from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools.logging import Logger

from chalicelib.config import get_settings


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    return Logger(service="tradeapi", level=get_settings().log_level)
