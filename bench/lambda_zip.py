"""The Lambda zip as Lambda runs it: `make package STAGE=prod`, unpacked, and a fresh process that imports the app
from it alone (no site-packages) and answers its first request (GET /openapi.json, which loads the router, the
pydantic shapes and the document generator), with bytecode writes off as on Lambda's read-only /var/task. Next
to the same unpacked zip without its `.pyc` files, where every module is compiled at every cold start."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from bench.figures import Figure, Spread
from bench.lambda_events import api_request
from bench.stack import BenchStack
from devstack.package import build

# Source for a process run from the unpacked zip: the context Lambda hands the API function.
API_FUNCTION_CONTEXT = '''
class Context:
    function_name = "tradeapi-prod-APIHandler"
    aws_request_id = "c0ffee00-0000-4000-8000-000000000000"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:tradeapi-prod-APIHandler"
    def get_remaining_time_in_millis(self): return 25000
'''

_COLD = '''
import json, os, sys
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
import app
''' + API_FUNCTION_CONTEXT + '''
print("BENCH " + json.dumps(app.app(json.loads(sys.argv[1]), Context())["statusCode"]), flush=True)
'''


def run(stack: BenchStack, quick: bool) -> list[Figure]:
    archive = build("prod", stack.dir / "package")
    with_bytecode, without_bytecode = stack.dir / "task", stack.dir / "task-without-bytecode"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(with_bytecode)
        zipped.extractall(without_bytecode)
    for cache in list(without_bytecode.rglob("__pycache__")):
        shutil.rmtree(cache)
    size_mb = archive.stat().st_size / 2**20
    samples: dict[Path, list[float]] = {with_bytecode: [], without_bytecode: []}
    for _ in range(3 if quick else 11):  # interleaved, so machine noise falls on both alike
        for task in samples:
            samples[task].append(_cold_start_ms(task))
    return [
        Figure("lambda zip", "cold start from the zip: import and first answer (GET /openapi.json), /var/task "
               "read-only", "ms", Spread.of(samples[with_bytecode]), "the same zip without bytecode",
               Spread.of(samples[without_bytecode]), details={"zip_mib": round(size_mb, 1)}),
        Figure("lambda zip", "compressed size of the zip's entries", "MiB", Spread.of([_entries_mib(archive)]),
               "the same zip without bytecode", Spread.of([_entries_mib(archive, bytecode=False)])),
    ]


def _cold_start_ms(task: Path) -> float:
    started = time.perf_counter()
    answer = subprocess.run(
        [sys.executable, "-S", "-c", _COLD, json.dumps(api_request("GET", "/openapi.json"))], cwd=task,
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "LAMBDA_TASK_ROOT": str(task), "STAGE": "prod", "AWS_DEFAULT_REGION":
             "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", "LOG_LEVEL": "WARNING",
             "PYTHONDONTWRITEBYTECODE": "1"})
    elapsed_ms = (time.perf_counter() - started) * 1000
    status = [line for line in answer.stdout.splitlines() if line.startswith("BENCH ")]
    assert status == ["BENCH 200"], answer.stdout[-2000:] + answer.stderr[-2000:]
    return elapsed_ms


def _entries_mib(archive: Path, bytecode: bool = True) -> float:
    with zipfile.ZipFile(archive) as zipped:
        return sum(info.compress_size for info in zipped.infolist()
                   if bytecode or not info.filename.endswith(".pyc")) / 2**20
