"""A loopback TCP proxy in front of a real server, for network faults a test can switch on and off: the server
going away (open connections cut, new ones closed at once), a stalled network (bytes held, never delivered), and
a connection cut the moment the client sends a given message (a crash just before COMMIT)."""
from __future__ import annotations

import contextlib
import select
import socket
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int] | str) -> None:
        """`target` is (host, port), or the path of a Unix socket (an embedded PostgreSQL listens on one)."""
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._mode = "pass"
        self._cut_on: bytes | None = None
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        """The server is gone: every open connection is cut and new ones are closed as soon as they arrive."""
        self._mode = "down"
        self._cut_all()

    def stall(self) -> None:
        """The network stops delivering: connections stay open but no byte gets through, either way."""
        self._mode = "stall"

    def up(self) -> None:
        self._mode = "pass"
        self._cut_on = None

    def cut_when_client_sends(self, marker: bytes) -> None:
        """Cut the connection instead of forwarding the first client message that contains `marker`."""
        self._cut_on = marker

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._cut_all()

    def _cut_all(self) -> None:
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._mode == "down":
                client.close()
                continue
            try:
                upstream = self._connect()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _connect(self) -> socket.socket:
        if isinstance(self._target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self._target)
            return upstream
        return socket.create_connection(self._target, timeout=5)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while not self._closed.is_set():
                if self._mode == "stall":
                    self._closed.wait(0.05)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and self._cut_on is not None and self._cut_on in data:
                        self._cut_on = None
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                for sock in (client, upstream):
                    self._open.discard(sock)
                    with contextlib.suppress(OSError):
                        sock.close()
