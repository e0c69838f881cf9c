"""The local HTTP server as `make run` serves it (gunicorn, devstack/wsgi.py and devstack/http_worker.py), over real
sockets: chunked bodies are read, clients that never finish their bodies cannot starve the others and are answered
408, and gunicorn's own refusals come in the API's error shape."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from devstack.paths import ROOT
from devstack.services import free_port, wait_for_port
from devstack.wsgi import BODY_READ_TIMEOUT_S, READ_THREADS, gunicorn_command

WORKERS = 2


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port()
    # The environment the integration fixtures set (this test's database, Redis prefix and queues) is inherited.
    process = subprocess.Popen(gunicorn_command(f"127.0.0.1:{port}", WORKERS), cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", port, process, "gunicorn", timeout=60)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def exchange(port: int, raw: bytes, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes or the body is complete)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(raw)
        return read_answer(conn)


def read_answer(conn: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed mid-body: {rest!r}"
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:length]


def assert_error_shape(headers: dict[str, str], payload: bytes) -> dict[str, object]:
    assert headers["content-type"] == "application/json"
    error = json.loads(payload)["error"]
    assert set(error) == {"code", "message", "details"}
    return error


def test_a_chunked_body_is_read_like_any_other(server: int) -> None:
    document = json.dumps({"username": "chunky", "balance": "12.50"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (document[:7], document[7:])) + b"0\r\n\r\n"
    status, _, payload = exchange(server, b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                          b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks)
    assert status == 201, payload
    assert json.loads(payload)["balance"] == "12.50"


def test_clients_that_never_finish_their_bodies_starve_nobody_and_get_408(server: int) -> None:
    # More stalled connections than worker processes (each of which read one request at a time before), and no more
    # than half a worker's reading threads, since connections need not spread evenly over the workers.
    stalled = []
    for _ in range(READ_THREADS // 2):
        conn = socket.create_connection(("127.0.0.1", server), timeout=BODY_READ_TIMEOUT_S + 30)
        conn.sendall(b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                     b"\r\n{\"username\"")
        stalled.append(conn)
    try:
        # Answered while every stalled body is still being waited for (the wait is shorter than the body timeout).
        with urllib.request.urlopen(f"http://127.0.0.1:{server}/stocks", timeout=BODY_READ_TIMEOUT_S - 1) as answer:
            assert answer.status == 200
        for conn in stalled:
            status, headers, payload = read_answer(conn)
            assert status == 408
            assert assert_error_shape(headers, payload)["code"] == "request_timeout"
    finally:
        for conn in stalled:
            conn.close()


@pytest.mark.parametrize("raw, status", [
    (b"GET /stocks HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"NOT A REQUEST LINE\r\n\r\n", 400),
    (b"POST /users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
])
def test_the_servers_own_refusals_come_in_the_error_shape(server: int, raw: bytes, status: int) -> None:
    answered, headers, payload = exchange(server, raw)
    assert answered == status
    assert_error_shape(headers, payload)
