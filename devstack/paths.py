"""Where the local stack keeps things: the project root, the data directory (embedded servers' data, the emulator's
log, the stack file), and the names the local functions and their log groups take."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TRADEAPI_DATA_DIR", ROOT / ".devstack"))
# Written by `make run` once it serves, removed when it stops: how `make demo` and `make logs` find the stack.
STACK_FILE = DATA_DIR / "stack.json"
FUNCTION_PREFIX = "tradeapi-local-"
LOG_GROUP_PREFIX = "/aws/lambda/"


def running_stack() -> dict[str, Any] | None:
    """What the running `make run` wrote about itself, or None when none is running."""
    if not STACK_FILE.exists():
        return None
    stack: dict[str, Any] = json.loads(STACK_FILE.read_text())
    return stack
