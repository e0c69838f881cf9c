"""The context object Lambda hands a handler, for functions the local stack runs as plain processes."""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field

from devstack.paths import LOG_GROUP_PREFIX


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and powertools read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    timeout_s: float = 60.0
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"{LOG_GROUP_PREFIX}{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{os.getpid()}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))
