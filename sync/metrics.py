"""The worker's counters: kept in memory, published to ``ops`` and to Prometheus."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

COUNTERS = ("processed", "written", "conflicts_soft", "conflicts_hard", "quarantined", "retries", "errors")


class WorkerMetrics:
    """Counters and per-database lag; a Prometheus registry of its own (no global state)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.lag: dict[str, int | None] = {}
        self.registry = CollectorRegistry()
        self._prom = {
            name: Counter(f"sync_worker_{name}", f"Documents {name.replace('_', ' ')} by the sync worker",
                          registry=self.registry)
            for name in COUNTERS
        }
        self._lag = Gauge("sync_worker_lag", "Changes pending per database (-1 when unknown)", ["db"],
                          registry=self.registry)
        self._server: tuple[WSGIServer, threading.Thread] | None = None

    def inc(self, name: str, amount: int = 1) -> None:
        if amount <= 0:
            return
        with self._lock:
            self.counters[name] += amount
        self._prom[name].inc(amount)

    def set_lag(self, db: str, pending: int | None) -> None:
        with self._lock:
            self.lag[db] = pending
        self._lag.labels(db=db).set(-1 if pending is None else pending)

    def snapshot(self) -> tuple[dict, dict]:
        with self._lock:
            return dict(self.counters), dict(self.lag)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``port``."""
        self._server = start_http_server(port, addr=addr, registry=self.registry)

    def close(self) -> None:
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._server = None
