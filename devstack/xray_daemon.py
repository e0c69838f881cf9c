"""The X-Ray daemon's receiving end on loopback, for the tests and the bench: the SDK sends each segment document
as one UDP datagram to `AWS_XRAY_DAEMON_ADDRESS` (a JSON header line, then the document). The daemon itself only
forwards to AWS, which cannot be reached here, so what the SDK sent it is read instead, as it arrives (a full
socket buffer would drop datagrams)."""
from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Segment:
    """One (sub)segment as sent, with its parent's id: a document's own `parent_id`, else the document it was
    nested in."""

    id: str
    trace_id: str
    parent_id: str | None
    name: str
    document: dict[str, Any] = field(repr=False)

    @property
    def annotations(self) -> dict[str, Any]:
        return dict(self.document.get("annotations", {}))


def trace_header() -> tuple[str, str]:
    """A sampled `_X_AMZN_TRACE_ID`, as Lambda sets it for each invocation, and its parent (the facade) id."""
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    parent = uuid.uuid4().hex[:16]
    return f"Root={root};Parent={parent};Sampled=1", parent


class XRayDaemon:
    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self._datagrams: list[bytes] = []
        self._last_arrival = time.monotonic()
        self._open = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while self._open:
            try:
                datagram = self._socket.recv(65535)
            except TimeoutError:
                continue
            self._datagrams.append(datagram)
            self._last_arrival = time.monotonic()

    def __enter__(self) -> XRayDaemon:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._open = False
        self._reader.join(5)
        self._socket.close()

    def datagrams(self, quiet_s: float = 0.3) -> int:
        """How many datagrams arrived, once none has for `quiet_s`."""
        while time.monotonic() - self._last_arrival < quiet_s:
            time.sleep(quiet_s / 4)
        return len(self._datagrams)

    def received(self, quiet_s: float = 1.0) -> list[Segment]:
        """Every segment sent so far, nested ones flattened, once none has arrived for `quiet_s`."""
        time.sleep(quiet_s)
        self.datagrams(quiet_s)
        segments: list[Segment] = []
        for datagram in list(self._datagrams):
            header, _, body = datagram.decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}, header
            segments += _flatten(json.loads(body), None, None)
        return segments


def _flatten(document: dict[str, Any], parent_id: str | None, trace_id: str | None) -> Iterator[Segment]:
    trace_id = document.get("trace_id", trace_id)
    assert trace_id, document
    yield Segment(document["id"], trace_id, document.get("parent_id", parent_id), document["name"], document)
    for child in document.get("subsegments", ()):
        yield from _flatten(child, document["id"], trace_id)
