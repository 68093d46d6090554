"""Which databases need the worker's attention: ``_db_updates`` or polling ``_all_dbs``.

Discovery hands database names to the processing loop through a bounded queue
(back-pressure: a slow worker slows discovery down instead of piling names up).

With ``_db_updates`` the feed position is kept in ``ops`` (``_local/db_updates_<shard>``),
so a restart resumes the feed instead of checking every database; without that document
(first start, or a position the server no longer accepts) discovery checks them all once.
The position is saved only once every database named before it has been processed (each
queued name carries a ticket; see ``DbQueue``), as a checkpoint follows a committed batch.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sync.canonical import now_iso
from sync.checkpoint import Checkpointer
from sync.couch import CouchClient
from sync.errors import BadRequest, CouchHTTPError, CouchUnavailable, NotFound, Unauthorized
from sync.provision import INSPECTIONS_DB_PREFIX, OPS_DB, SCHOOL_DB_PREFIX
from sync.settings import WorkerSettings

log = logging.getLogger(__name__)

FOLLOWED_PREFIXES = (SCHOOL_DB_PREFIX, INSPECTIONS_DB_PREFIX)


def is_followed(name: str) -> bool:
    return name.startswith(FOLLOWED_PREFIXES)


def shard_of(name: str, count: int) -> int:
    """The 1-based shard that owns database ``name`` (stable across processes and hosts)."""
    return zlib.crc32(name.encode()) % count + 1


def owned_by(name: str, shard_index: int, shard_count: int, db_pattern: str | None = None) -> bool:
    """Whether the worker shard ``shard_index`` of ``shard_count`` (limited to ``db_pattern``)
    follows database ``name``."""
    if db_pattern and re.search(db_pattern, name) is None:
        return False
    return is_followed(name) and shard_of(name, shard_count) == shard_index


def owned(name: str, settings: WorkerSettings) -> bool:
    return owned_by(name, settings.shard_index, settings.shard_count, settings.db_pattern)


class DbQueue:
    """A bounded FIFO of database names; a name already waiting is not queued twice.

    Every queued name gets a ticket (1, 2, ...) that stays unfinished until the consumer
    calls ``done(name)`` after processing it, so discovery can tell which feed positions
    are fully processed (``oldest_unfinished``). A name that is waiting when it is put
    again keeps its ticket: its processing has not started, so it covers the new update.
    """

    def __init__(self, maxsize: int):
        self._queue: queue.Queue[str] = queue.Queue(maxsize=maxsize)
        self._waiting: dict[str, int] = {}
        self._active: dict[str, int] = {}
        self._abandoned: set[int] = set()
        self._noticed: dict[str, float] = {}  # name -> wall time it was first queued, until done
        self._parked: list[str] = []  # taken off the queue while another consumer had it
        self._issued = 0
        self._lock = threading.Lock()

    def put(self, name: str, stop: threading.Event) -> bool:
        """Queue ``name``, waiting while the queue is full; False when ``stop`` came first."""
        with self._lock:
            if name in self._waiting:
                return True
            self._issued += 1
            self._waiting[name] = self._issued
            self._noticed.setdefault(name, time.time())
        while not stop.is_set():
            try:
                self._queue.put(name, timeout=0.5)
                return True
            except queue.Full:
                continue
        # Abandoned: keep the ticket unfinished so no position past it is ever saved.
        with self._lock:
            self._abandoned.add(self._waiting.pop(name))
        return False

    def offer(self, name: str) -> bool:
        """Queue ``name`` only if there is room now; False (nothing queued) when the queue is
        full. For the processing threads, which must never wait on their own queue."""
        with self._lock:
            if name in self._waiting:
                return True
            try:
                self._queue.put_nowait(name)
            except queue.Full:
                return False
            # Under the lock: a consumer that took it already waits here before ``get`` reads it.
            self._issued += 1
            self._waiting[name] = self._issued
            self._noticed.setdefault(name, time.time())
            return True

    def get(self, timeout: float) -> str | None:
        """The next name to process, never one another consumer is processing: a name taken
        off the queue while it is active is parked (still waiting, with its ticket) and
        handed out by a later ``get`` once it is done. None when there is nothing (yet)."""
        with self._lock:
            for name in self._parked:
                if name not in self._active:
                    self._parked.remove(name)
                    self._active[name] = self._waiting.pop(name)
                    return name
        try:
            name = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        with self._lock:
            if name in self._active:
                self._parked.append(name)
                return None
            self._active[name] = self._waiting.pop(name)
        return name

    def done(self, name: str) -> None:
        """``name``, as last taken by ``get``, has been processed to the end of its feed."""
        with self._lock:
            self._active.pop(name, None)
            if name not in self._waiting:
                self._noticed.pop(name, None)

    def pending(self) -> dict[str, float]:
        """Every name queued or being processed, with the wall time it was first queued
        (kept across re-queues until the name is done with none waiting)."""
        with self._lock:
            return dict(self._noticed)

    @property
    def issued(self) -> int:
        """The newest ticket handed out (0 before the first ``put``)."""
        with self._lock:
            return self._issued

    def oldest_unfinished(self) -> int | None:
        """The oldest ticket still queued or being processed, or None when there is none."""
        with self._lock:
            tickets = [*self._waiting.values(), *self._active.values(), *self._abandoned]
        return min(tickets) if tickets else None

    def qsize(self) -> int:
        return self._queue.qsize()


def position_doc_name(settings: WorkerSettings) -> str:
    """``db_updates_1-of-1``; a worker limited by ``db_pattern`` follows other databases, so
    its position is its own (``db_updates_1-of-1_<crc32 of the pattern>``)."""
    name = f"db_updates_{settings.shard_name}"
    if settings.db_pattern:
        name += f"_{zlib.crc32(settings.db_pattern.encode()):08x}"
    return name


class FeedPosition:
    """This worker's ``_db_updates`` position, saved in ``ops`` as ``_local/<position_doc_name>``.

    ``mark(ticket, seq)`` records that every database named up to ``seq`` has a ticket no
    newer than ``ticket``; ``save_processed`` saves the newest marked ``seq`` whose tickets
    are all finished. Raises the client's ``CouchError``s.
    """

    def __init__(self, client: CouchClient, settings: WorkerSettings):
        self.db = client.db(OPS_DB)
        self.name = position_doc_name(settings)
        self.shard = settings.shard_name
        self._marks: deque[tuple[int, Any]] = deque()
        self._saved: Any = None
        # Discovery marks; the processing loop also saves once it has drained the queue, so
        # the saved position is current when the worker is idle (health reads it).
        self._lock = threading.Lock()

    def load(self) -> Any | None:
        """The saved position, or None when there is none (or it was discarded)."""
        doc = self.db.get_local(self.name) or {}
        self._saved = doc.get("since")
        return self._saved

    def discard(self) -> None:
        self._marks.clear()
        self._saved = None
        self.db.put_local(self.name, {"since": None, "shard": self.shard, "updated_at": now_iso()})

    def mark(self, ticket: int, seq: Any) -> None:
        with self._lock:
            if not self._marks or self._marks[-1] != (ticket, seq):
                self._marks.append((ticket, seq))

    def save_processed(self, dbq: DbQueue) -> Any | None:
        """Save the newest fully processed position, if it moved; returns what it saved."""
        with self._lock:
            return self._save_processed(dbq)

    def _save_processed(self, dbq: DbQueue) -> Any | None:
        oldest = dbq.oldest_unfinished()
        ready = 0
        for ticket, _seq in self._marks:
            if oldest is not None and ticket >= oldest:
                break
            ready += 1
        if not ready:
            return None
        seq = self._marks[ready - 1][1]
        if seq != self._saved:
            self.db.put_local(self.name, {"since": seq, "shard": self.shard, "updated_at": now_iso()})
            self._saved = seq
        for _ in range(ready):
            self._marks.popleft()
        return seq


class DatabaseDiscovery:
    """Finds this shard's databases with pending changes."""

    def __init__(self, client: CouchClient, settings: WorkerSettings, checkpointer: Checkpointer):
        self.client = client
        self.settings = settings
        self.checkpointer = checkpointer
        self.position = FeedPosition(client, settings)
        # The newest ticket of discovery's first round (every owned database checked once, or
        # the resumed feed's first answer queued); None until that round is over.
        self.first_round_ticket: int | None = None

    def catching_up(self, dbq: DbQueue) -> bool:
        """True until the first round's databases have all been processed."""
        if self.first_round_ticket is None:
            return True
        oldest = dbq.oldest_unfinished()
        return oldest is not None and oldest <= self.first_round_ticket

    @property
    def mode(self) -> str:
        return "_db_updates" if self.client.has("_db_updates") else "poll"

    def owned_dbs(self) -> list[str]:
        return sorted(name for name in self.client.all_dbs() if owned(name, self.settings))

    def update_seq(self, name: str):
        return self.client.db(name).info().get("update_seq")

    def stale(self, names: Iterable[str] | None = None) -> list[tuple[str, object]]:
        """(name, None) of owned databases with changes after their checkpoint
        (``Checkpointer.behind``)."""
        def check(name: str) -> tuple[str, object] | None:
            try:
                return (name, None) if self.checkpointer.behind(name) else None
            except NotFound:
                return None  # deleted meanwhile

        # Two requests a database: at a province's 20,000, worth doing several at once.
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="stale") as pool:
            found = pool.map(check, self.owned_dbs() if names is None else names)
            return [item for item in found if item is not None]

    def _start_feed(self, dbq: DbQueue, stop: threading.Event) -> tuple[Any, bool] | None:
        """Where ``_db_updates`` starts: the saved position, else "now" after queueing every
        owned database that changed since its checkpoint. (since, resumed), or None on stop."""
        saved = self.position.load()
        if saved is not None:
            log.info("resuming _db_updates from the saved position", extra={"since": saved})
            return saved, True
        since = self.client.db_updates(since="now", feed="normal")["last_seq"]
        for name, _seq in self.stale():
            if not dbq.put(name, stop):
                return None
        self.position.mark(dbq.issued, since)
        return since, False

    def run(self, dbq: DbQueue, stop: threading.Event, on_error: Callable[[BaseException], None]) -> None:
        """Feed ``dbq`` until ``stop`` is set (runs in its own thread)."""
        since: Any = None
        resumed = False
        backoff = 0.5
        while not stop.is_set():
            try:
                if self.mode == "poll":
                    for name, _seq in self.stale():
                        if not dbq.put(name, stop):
                            return
                    if self.first_round_ticket is None:
                        self.first_round_ticket = dbq.issued
                    stop.wait(self.settings.poll_interval_s)
                    continue
                if since is None:
                    started = self._start_feed(dbq, stop)
                    if started is None:
                        return
                    since, resumed = started
                    if not resumed and self.first_round_ticket is None:
                        self.first_round_ticket = dbq.issued
                    continue
                try:
                    # Resumed: read what happened meanwhile at once (no wait), so the first
                    # round ends as soon as that backlog is queued.
                    answer = self.client.db_updates(since=since, feed="normal" if resumed else "longpoll",
                                                    timeout_s=self.settings.longpoll_timeout_s)
                except BadRequest as exc:
                    if not resumed:
                        raise
                    # The server no longer knows the saved position: check every database once.
                    log.warning("saved _db_updates position refused; checking every database",
                                extra={"since": since, "error": str(exc)})
                    self.position.discard()
                    since, resumed = None, False
                    continue
                resumed = False
                since = answer.get("last_seq", since)
                for row in answer.get("results", []):
                    name = row.get("db_name", "")
                    if owned(name, self.settings) and row.get("type") != "deleted" and not dbq.put(name, stop):
                        return
                self.position.mark(dbq.issued, since)
                self.position.save_processed(dbq)
                if self.first_round_ticket is None:
                    self.first_round_ticket = dbq.issued
                backoff = 0.5
            except Unauthorized as exc:
                on_error(exc)
                return
            except (CouchUnavailable, CouchHTTPError) as exc:
                log.warning("discovery failed, retrying", extra={"error": str(exc), "backoff_s": backoff})
                stop.wait(backoff)
                backoff = min(backoff * 2, 30)
