"""`make logs`: the functions' logs from CloudWatch Logs on the local AWS emulator, like `aws logs tail`.

    python -m devstack.logs                      # the last 10 minutes, every function
    python -m devstack.logs --follow --filter 3f98adb3     # follow, only lines naming that transaction
    python -m devstack.logs --function settle_trades --since 1h --json
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from devstack.cloudwatch import follow, logs_client, read
from devstack.console import render
from devstack.paths import FUNCTION_PREFIX, LOG_GROUP_PREFIX, running_stack

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    parser.add_argument("--filter", help="only lines containing this text (a transaction id, an event name, ...)")
    parser.add_argument("--function", help="api_handler, settle_trades or relay_outbox (default: all)")
    parser.add_argument("--since", default="10m", help="how far back to start, e.g. 30s, 10m, 2h (default 10m)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON lines")
    args = parser.parse_args(argv)

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint is None and (stack := running_stack()) is not None:
        endpoint = stack["aws_endpoint_url"]
    if endpoint is None:
        print("no running stack found: start it with `make run` (or set AWS_ENDPOINT_URL)", file=sys.stderr)
        return 2
    prefix = f"{LOG_GROUP_PREFIX}{FUNCTION_PREFIX}{args.function or ''}"
    since_ms = int((time.time() - int(args.since[:-1]) * UNITS[args.since[-1]]) * 1000)
    logs = logs_client(endpoint)
    lines = (follow(logs, prefix, since_ms, args.filter) if args.follow
             else iter(read(logs, prefix, since_ms, args.filter)))
    try:
        for line in lines:
            print(line.message if args.json else render(line.function.removeprefix(FUNCTION_PREFIX), line.message),
                  flush=True)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
