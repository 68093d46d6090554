"""The worker's counters: kept in memory, published to ``ops`` and to Prometheus."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

COUNTERS = ("processed", "written", "conflicts_soft", "conflicts_hard", "quarantined", "retries", "errors")
PROGRESS_GAUGES = {
    "catching_up": "1 until every followed database has been checked once since the worker started",
    "dbs_pending": "Databases with changes the worker has not processed yet",
    "docs_pending": "Changes not processed yet in those databases (a lower bound while not all are counted)",
    "lag_seconds": "Seconds since the oldest unprocessed change was noticed (0 when idle)",
}


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
        # Totals, not one series per database: a province has 20,000 of them.
        self._progress = {
            name: Gauge(f"sync_worker_{name}", help_text, registry=self.registry)
            for name, help_text in PROGRESS_GAUGES.items()
        }
        self._server: tuple[WSGIServer, threading.Thread] | None = None

    def inc(self, name: str, amount: int = 1) -> None:
        if amount <= 0:
            return
        with self._lock:
            self.counters[name] += amount
        self._prom[name].inc(amount)

    def set_lag(self, db: str, pending: int | None) -> None:
        """Changes left in ``db`` after the batch just read (None: the server did not say);
        a database with nothing left is forgotten."""
        with self._lock:
            if pending == 0:
                self.lag.pop(db, None)
            else:
                self.lag[db] = pending

    def forget_lag(self, db: str) -> None:
        with self._lock:
            self.lag.pop(db, None)

    def set_progress(self, progress: dict) -> None:
        """Publish the worker's progress (``Worker.progress()``) as gauges."""
        for name in PROGRESS_GAUGES:
            value = progress.get(name)
            if isinstance(value, bool):
                value = int(value)
            self._progress[name].set(value if isinstance(value, int | float) else -1)

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
