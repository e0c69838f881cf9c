"""LocalStack in host mode, the local AWS for SQS and CloudWatch Logs: installed on first use into a virtual
environment of its own (its runtime pins boto3 apart from the project's), started on loopback, health-checked,
and stopped with whatever started it. Its Lambda service needs Docker, so functions run as local processes."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from devstack.paths import DATA_DIR
from devstack.services import LoopbackServer

VERSION = "4.4.0"
SERVICES = ("sqs", "logs", "secretsmanager")
HERE = Path(__file__).resolve().parent
REQUIREMENTS, CONSTRAINTS = HERE / "requirements.txt", HERE / "constraints.txt"
START_TIMEOUT_S = 60.0
Say = Callable[[str], object]


class Unavailable(RuntimeError):
    """LocalStack cannot be installed or started here; the message says why in one line."""


def home() -> Path:
    """Where the environment is installed, shared by `make run` and the tests of one checkout."""
    return Path(os.environ.get("TRADEAPI_LOCALSTACK_HOME", DATA_DIR / "localstack"))


def ensure_installed(say: Say = print) -> Path:
    """The environment's Python, installing it first if it is missing or its pins changed."""
    venv = home() / f"venv-{VERSION}"
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{_pins_digest()}"
    if stamp.exists():
        return python
    home().mkdir(parents=True, exist_ok=True)
    # Tests and `make run` may start at once: one installs, the other waits for it.
    with open(home() / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            _install(venv, python, stamp, say)
    return python


def _install(venv: Path, python: Path, stamp: Path, say: Say) -> None:
    base = os.environ.get("TRADEAPI_LOCALSTACK_PYTHON", sys.executable)
    say(f"installing LocalStack {VERSION} (SQS, CloudWatch Logs) into {venv} with {base}: first run only ...")
    started = time.monotonic()
    _run([base, "-m", "venv", "--clear", str(venv)], "could not create its virtual environment")
    _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
          "-r", str(REQUIREMENTS), "-c", str(CONSTRAINTS)], "pip could not install it", say)
    stamp.touch()
    say(f"LocalStack {VERSION} installed in {time.monotonic() - started:.0f} s")


def _run(command: list[str], failure: str, say: Say | None = None) -> None:
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise Unavailable(f"{failure}: {exc}") from None
    last = ""
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        if line and not line.startswith("WARNING: Location"):
            last = line
            if say is not None and line.startswith(("Collecting", "Installing", "Successfully")):
                say(f"  {line[:150]}")
    if process.wait() != 0:
        raise Unavailable(f"{failure}: {last[:200]}")


def _pins_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + CONSTRAINTS.read_bytes()).hexdigest()[:12]


class LocalStackServer(LoopbackServer):
    """LocalStack's runtime on 127.0.0.1, its files under `data_dir`, gone when it stops."""

    name = f"LocalStack {VERSION}"

    def __init__(self, data_dir: Path, python: Path, port: int | None = None) -> None:
        self._data_dir = data_dir
        self._python = python
        super().__init__(data_dir / "localstack.log", port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [str(self._python), "-m", "localstack.runtime.main"]

    def env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
        return {**{name: os.environ[name] for name in keep if name in os.environ},
                "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
                # Its default server (twisted) binds 0.0.0.0 whatever GATEWAY_LISTEN's host says; hypercorn binds
                # the host given: nothing but this machine reaches SQS, Logs or Secrets Manager.
                "GATEWAY_SERVER": "hypercorn",
                "SERVICES": ",".join(SERVICES),
                "EAGER_SERVICE_LOADING": "1",
                # Queue URLs on the gateway's own address (http://127.0.0.1:PORT/queue/...), no DNS needed.
                "SQS_ENDPOINT_STRATEGY": "path",
                "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
                # This machine may look like a container to LocalStack; it runs on the host, its files here.
                "OVERRIDE_IN_DOCKER": "0",
                "FILESYSTEM_ROOT": str(self._data_dir / "filesystem"),
                # No calls home: no certificate download, no analytics.
                "SKIP_SSL_CERT_DOWNLOAD": "1",
                "DISABLE_EVENTS": "1",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1"}

    def start(self) -> None:
        try:
            super().start()
            self._wait_until_ready()
        except RuntimeError as exc:
            self.stop()
            raise Unavailable(f"{self.name} did not start: {exc} (see {self.log_path})") from None

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_localstack/health", timeout=2) as answer:
                    states = json.load(answer).get("services", {})
                if all(states.get(service) in ("available", "running") for service in SERVICES):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"its health check did not report {', '.join(SERVICES)} ready in {START_TIMEOUT_S:.0f} s")
