"""A bounded HTTP load generator for servers on this machine: N keep-alive clients, each sending requests
back to back for a fixed time. Reports requests/s and latency percentiles.

    python -m bench.http_load http://127.0.0.1:8000/stocks/AAPL --clients 16 --seconds 5
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from bench.figures import percentile

# What the n-th request of a client is: method, body (or None) and headers.
Request = tuple[str, str | None, dict[str, str]]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    succeeded: int = 0  # answers below 300

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def summary(self) -> dict[str, float]:
        return {"requests": self.requests, "errors": self.errors, "rps": round(self.rps, 1),
                "p50_ms": round(self.percentile(50), 2), "p99_ms": round(self.percentile(99), 2),
                "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else float("nan")}


def run(url: str, clients: int, seconds: float, headers: dict[str, str] | None = None,
        request: Callable[[int], Request] | None = None) -> LoadResult:
    """GETs of `url` with `headers`, or what `request(n)` says the n-th request (over all clients) is."""
    target = urllib.parse.urlsplit(url)
    if target.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("load is only ever sent to this machine (loopback)")
    path = target.path + (f"?{target.query}" if target.query else "")
    deadline = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    succeeded = [0] * clients

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        n = index
        while time.monotonic() < deadline:
            method, body, sent_headers = request(n) if request else ("GET", None, headers or {})
            n += clients
            started = time.perf_counter()
            try:
                conn.request(method, path, body, headers=sent_headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 500:
                    errors[index] += 1
                succeeded[index] += response.status < 300
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                continue
            latencies[index].append((time.perf_counter() - started) * 1000)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    flat = [ms for per_client in latencies for ms in per_client]
    return LoadResult(len(flat), sum(errors), time.monotonic() - started, flat, sum(succeeded))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.clients, args.seconds).summary()))


if __name__ == "__main__":
    main()
