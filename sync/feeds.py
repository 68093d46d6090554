"""Which databases need the worker's attention: ``_db_updates`` or polling ``_all_dbs``.

Discovery hands database names to the processing loop through a bounded queue
(back-pressure: a slow worker slows discovery down instead of piling names up).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import zlib
from collections.abc import Callable, Iterable

from sync.checkpoint import Checkpointer
from sync.couch import CouchClient
from sync.errors import CouchHTTPError, CouchUnavailable, NotFound, Unauthorized
from sync.provision import INSPECTIONS_DB_PREFIX, SCHOOL_DB_PREFIX
from sync.settings import WorkerSettings

log = logging.getLogger(__name__)

FOLLOWED_PREFIXES = (SCHOOL_DB_PREFIX, INSPECTIONS_DB_PREFIX)


def is_followed(name: str) -> bool:
    return name.startswith(FOLLOWED_PREFIXES)


def shard_of(name: str, count: int) -> int:
    """The 1-based shard that owns database ``name`` (stable across processes and hosts)."""
    return zlib.crc32(name.encode()) % count + 1


def owned(name: str, settings: WorkerSettings) -> bool:
    if settings.db_pattern and re.search(settings.db_pattern, name) is None:
        return False
    return is_followed(name) and shard_of(name, settings.shard_count) == settings.shard_index


class DbQueue:
    """A bounded FIFO of database names; a name already waiting is not queued twice."""

    def __init__(self, maxsize: int):
        self._queue: queue.Queue[str] = queue.Queue(maxsize=maxsize)
        self._waiting: set[str] = set()
        self._lock = threading.Lock()

    def put(self, name: str, stop: threading.Event) -> None:
        with self._lock:
            if name in self._waiting:
                return
            self._waiting.add(name)
        while not stop.is_set():
            try:
                self._queue.put(name, timeout=0.5)
                return
            except queue.Full:
                continue
        with self._lock:
            self._waiting.discard(name)

    def get(self, timeout: float) -> str | None:
        try:
            name = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        with self._lock:
            self._waiting.discard(name)
        return name

    def qsize(self) -> int:
        return self._queue.qsize()


class DatabaseDiscovery:
    """Finds this shard's databases with pending changes."""

    def __init__(self, client: CouchClient, settings: WorkerSettings, checkpointer: Checkpointer):
        self.client = client
        self.settings = settings
        self.checkpointer = checkpointer

    @property
    def mode(self) -> str:
        return "_db_updates" if self.client.has("_db_updates") else "poll"

    def owned_dbs(self) -> list[str]:
        return sorted(name for name in self.client.all_dbs() if owned(name, self.settings))

    def update_seq(self, name: str):
        return self.client.db(name).info().get("update_seq")

    def stale(self, names: Iterable[str] | None = None) -> list[tuple[str, object]]:
        """(name, update_seq) of owned databases whose update_seq differs from what the
        checkpoint last saw (sequences are compared for equality only)."""
        out = []
        for name in self.owned_dbs() if names is None else names:
            try:
                seq = self.update_seq(name)
                if seq != self.checkpointer.load(name)["seen_update_seq"]:
                    out.append((name, seq))
            except NotFound:
                continue  # deleted meanwhile
        return out

    def run(self, dbq: DbQueue, stop: threading.Event, on_error: Callable[[BaseException], None]) -> None:
        """Feed ``dbq`` until ``stop`` is set (runs in its own thread)."""
        since = "now"
        first = True
        backoff = 0.5
        while not stop.is_set():
            try:
                if first or self.mode == "poll":
                    if first and self.mode == "_db_updates":
                        since = self.client.db_updates(since="now", feed="normal")["last_seq"]
                    for name, _seq in self.stale():
                        dbq.put(name, stop)
                    first = False
                    if self.mode == "poll":
                        stop.wait(self.settings.poll_interval_s)
                    continue
                answer = self.client.db_updates(since=since, feed="longpoll",
                                                timeout_s=self.settings.longpoll_timeout_s)
                since = answer.get("last_seq", since)
                for row in answer.get("results", []):
                    name = row.get("db_name", "")
                    if owned(name, self.settings) and row.get("type") != "deleted":
                        dbq.put(name, stop)
                backoff = 0.5
            except Unauthorized as exc:
                on_error(exc)
                return
            except (CouchUnavailable, CouchHTTPError) as exc:
                log.warning("discovery failed, retrying", extra={"error": str(exc), "backoff_s": backoff})
                stop.wait(backoff)
                backoff = min(backoff * 2, 30)
