"""The local HTTP server's worker: gunicorn's threaded worker, whose own refusals (a malformed request line, a URI
or headers too long, a bad chunk) answer in the API's error shape instead of gunicorn's HTML page.

gunicorn offers no hook for its error page: `handle_error` classifies the failure and then writes the page with
`gunicorn.util.write_error`, so that one function is replaced, in the worker process only."""
from __future__ import annotations

import socket

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from devstack.wsgi import error_answer


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    status, headers, payload = error_answer(status_int, _code(status_int, reason), mesg or reason)
    head = "".join(f"{name}: {value}\r\n" for name, value in
                   {**headers, "Content-Length": str(len(payload)), "Connection": "close"}.items())
    util.write_nonblock(sock, f"HTTP/1.1 {status} {reason}\r\n{head}\r\n".encode("latin-1") + payload)


def _code(status: int, reason: str) -> str:
    return "malformed_request" if status == 400 else (
        "internal_error" if status == 500 else reason.lower().replace(" ", "_").replace("-", "_"))


class JsonErrorThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        util.write_error = write_json_error  # type: ignore[assignment] # no hook exists for gunicorn's error page
        super().init_process()
