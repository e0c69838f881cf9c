"""A PostgreSQL cluster of a test's or a benchmark's own: created with initdb, served on a loopback TCP port, and
crashed, restarted and stopped with pg_ctl as faults need. Its binaries are the machine's PostgreSQL where one is
installed (and TRADEAPI_EMBEDDED is not set), else the pgserver wheel's, which `make run` embeds; as root it runs
as pgserver's unprivileged user, since PostgreSQL refuses to run as root."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from devstack.services import embedded_redis_server, force_embedded, free_port

RUN_AS = "pgserver"  # the user pgserver itself creates and runs as under root


def postgres_binaries() -> Path:
    """Where initdb and pg_ctl are: the machine's PostgreSQL (the newest installed), else the embedded wheel's."""
    if not force_embedded():
        installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_major_version)
        on_path = shutil.which("pg_ctl")
        if installed or on_path:
            return Path(installed[-1] if installed else str(on_path)).parent
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def redis_binary() -> str:
    """The machine's redis-server, else the embedded wheel's."""
    return (None if force_embedded() else shutil.which("redis-server")) or embedded_redis_server()


def _major_version(pg_ctl: str) -> int:
    return int(Path(pg_ctl).parent.parent.name) if Path(pg_ctl).parent.parent.name.isdigit() else 0


class PostgresCluster:
    def __init__(self, bin_dir: Path | None = None, port: int | None = None) -> None:
        self.bin_dir = bin_dir or postgres_binaries()
        self.port = port or free_port()
        # Under /tmp rather than a test's own directory, which may not be traversable by another user.
        self.root = Path(tempfile.mkdtemp(prefix="tradeapi-pg-"))
        self.root.chmod(0o755)
        self.data, self.log = self.root / "data", self.root / "postgres.log"
        self._as = self._unprivileged_user()
        self.data.mkdir()
        if self._as:
            shutil.chown(self.data, self._as["user"], self._as["user"])
            shutil.chown(self.root, self._as["user"], self._as["user"])
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                  "--no-instructions")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def version(self) -> str:
        return (self.data / "PG_VERSION").read_text().strip()

    def start(self) -> None:
        self._pg_ctl("start")

    def crash(self) -> None:
        """Immediate shutdown: every backend killed, no checkpoint, what a crash leaves (`start` then recovers)."""
        self._pg_ctl("stop", "-m", "immediate")

    def shut_down(self) -> None:
        """Fast shutdown: clients disconnected, a checkpoint, as an operator's restart does."""
        self._pg_ctl("stop", "-m", "fast")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl(self, action: str, *options: str) -> None:
        listen = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", listen,
                  *options)

    def _run(self, program: str, *args: str) -> None:
        try:
            subprocess.run([str(self.bin_dir / program), *args], check=True, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120, cwd=self.root, **self._as)
        except subprocess.CalledProcessError as failed:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args[:1])} failed: {failed.stderr or failed.stdout}\n{log}") \
                from None

    def _unprivileged_user(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(RUN_AS)
        if not str(self.bin_dir).startswith("/usr/"):
            # The wheel's binaries, as pgserver prepares them for its own server: reachable and runnable by the user.
            ensure_prefix_permissions(self.bin_dir)
            ensure_folder_permissions(self.bin_dir, 0o055)
            ensure_folder_permissions(self.bin_dir.parent / "lib", 0o044)
        return {"user": RUN_AS}
