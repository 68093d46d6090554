"""The sync worker: follows school databases, writes canonical reports, settles conflicts.

One loop per process (``python -m sync``): discovery (``_db_updates`` or polling) feeds a
bounded queue of database names; for each, the worker reads ``_changes`` in batches from
its checkpoint (kept in ``ops``, where devices cannot write: ``sync.checkpoint``),
validates and migrates each document, resolves conflicts, writes the canonical copies
with one ``_bulk_docs``, then its ops records, and only then moves the checkpoint. A
document that fails is retried a few times and then quarantined: one bad document never
stalls a feed. Transient server trouble backs off and retries;
``Unauthorized`` is fatal (exit code 3) so a supervisor can alert and restart.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mobile_schema import SchemaError, check_history, migrate, validate_document
from sync.canonical import build_canonical, canonical_id, now_iso, same_body, source_body
from sync.checkpoint import Checkpointer
from sync.conflicts import ConflictResolver
from sync.couch import CouchClient
from sync.device_status import DEVICE_STATUS_PREFIX, build_mirror, mirror_changed
from sync.early_warning import EarlyWarningUpdater
from sync.errors import BadRequest, CouchError, CouchHTTPError, CouchUnavailable, Forbidden, NotFound, Unauthorized
from sync.feeds import DatabaseDiscovery, DbQueue
from sync.merge import is_worker_tombstone
from sync.metrics import WorkerMetrics
from sync.provision import (
    INSPECTIONS_DB_PREFIX,
    OPS_DB,
    REGISTRY_DB,
    REPORTS_DB,
    inspections_db_name,
    school_db_name,
)
from sync.quarantine import error_reason, issue_reason, quarantine_doc
from sync.reviews import SERVICE_DEVICE, history_review, roster_review
from sync.settings import WorkerSettings

log = logging.getLogger("sync.worker")

EXIT_OK = 0
EXIT_UNAUTHORIZED = 3
# Seconds after which a database that had changes is read again on a cluster (see
# ``Worker._schedule_recheck``).
CLUSTER_RECHECK_S = 2.0
# How many databases' backlogs the status doc lists (largest first).
STATUS_LAG_DBS = 50
# Not reports: never made canonical (device status docs are mirrored into ops instead).
# The service's own documents in a school database (requests from the county office among them).
SKIPPED_PREFIXES = ("_design/", "config:", "conflict_notice:", "request:", DEVICE_STATUS_PREFIX)


class SchoolNotRegistered(LookupError):
    """The registry has no ``school:<id>`` for a report's school (retried, then quarantined)."""


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in self._RESERVED})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class RegistryCache:
    """School, county and roster docs from ``registry``, cached (misses refreshed, rate-limited)."""

    def __init__(self, client: CouchClient, *, ttl_s: float = 300.0, miss_retry_s: float = 0.5):
        self.db = client.db(REGISTRY_DB)
        self.ttl_s = ttl_s
        self.miss_retry_s = miss_retry_s
        self._docs: dict[str, tuple[float, dict | None]] = {}
        self._db_owner: dict[str, str] = {}
        self._owner_loaded = 0.0

    def invalidate(self) -> None:
        self._docs.clear()
        self._owner_loaded = 0.0

    def doc(self, doc_id: str) -> dict | None:
        now = time.monotonic()
        cached = self._docs.get(doc_id)
        if cached is not None:
            at, value = cached
            if now - at < (self.ttl_s if value is not None else self.miss_retry_s):
                return value
        value = self.db.get_or_none(doc_id)
        self._docs[doc_id] = (now, value)
        return value

    def school(self, school_id: str) -> dict | None:
        return self.doc(f"school:{school_id}")

    def roster(self, school_id: str) -> set[str | None] | None:
        """Usernames on the school's roster, or None when it has no roster doc."""
        doc = self.doc(f"roster:{school_id}")
        if doc is None:
            return None
        return {t.get("username") for t in doc.get("teachers") or [] if isinstance(t, dict)}

    def owner_of(self, db_name: str) -> str | None:
        """The school id (``school_*``) or county id (``inspections_*``) a database belongs to."""
        if db_name not in self._db_owner and time.monotonic() - self._owner_loaded > self.miss_retry_s:
            self._owner_loaded = time.monotonic()
            for doc_type, naming in (("school", school_db_name), ("county", inspections_db_name)):
                rows = self.db.view("registry", "by_type", key=doc_type, reduce=False)["rows"]
                for row in rows:
                    owner = row["id"].split(":", 1)[1]
                    self._db_owner[naming(owner)] = owner
        return self._db_owner.get(db_name)


@dataclass
class DbContext:
    name: str
    inspections: bool
    owner: str | None  # school id, or county id for inspections databases

    def school_id_of(self, doc: dict | None) -> str | None:
        if not self.inspections and self.owner:
            return self.owner
        value = (doc or {}).get("school_id")
        if isinstance(value, str) and (self.inspections or school_db_name(value) == self.name):
            return value
        return None

    def validate(self, doc: dict) -> list:
        if self.inspections:
            return validate_document(doc, county_id=self.owner)
        return validate_document(doc, school_id=self.school_id_of(doc))


@dataclass
class RowOutcome:
    canonical: dict | None = None
    ops: list[dict] = field(default_factory=list)
    quarantined: bool = False


def _clean(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("_conflicts", "_deleted_conflicts", "_revisions")}


class Worker:
    """Follows this shard's school and inspections databases. See the module docstring."""

    def __init__(self, client: CouchClient, settings: WorkerSettings, *, metrics: WorkerMetrics | None = None):
        self.client = client
        self.settings = settings
        self.metrics = metrics or WorkerMetrics()
        self.stop_event = threading.Event()
        self.checkpointer = Checkpointer(client, writer=settings.shard_name)
        self.discovery = DatabaseDiscovery(client, settings, self.checkpointer)
        self.registry = RegistryCache(client)
        self.resolver = ConflictResolver(client, metrics=self.metrics)
        self.reports = client.db(REPORTS_DB)
        self.ops = client.db(OPS_DB)
        self.early_warning: EarlyWarningUpdater | None = (
            EarlyWarningUpdater(client, self.registry.doc) if settings.early_warning else None)
        self._last_status = 0.0
        self._last_position_save = 0.0
        self._dbq: DbQueue | None = None  # the forever loop's queue (None in ``once`` mode)
        self._was_idle: bool | None = None
        self._status_now = threading.Event()
        self._rechecks: list[tuple[float, str]] = []
        self._recheck_lock = threading.Lock()
        self._fatal: BaseException | None = None
        self._sleep: Callable[[float], bool] = self.stop_event.wait

    # -- lifecycle ----------------------------------------------------------------------

    def request_stop(self, *_args: object) -> None:
        """Finish the current batch, then stop (the SIGTERM handler)."""
        self.stop_event.set()

    def run(self, *, once: bool = False) -> int:
        """Run until stopped (or, with ``once``, until every owned database is caught up).

        Returns the process exit code: 0, or 3 when CouchDB refuses the credentials.
        """
        try:
            if once:
                log.info("worker started", extra={"shard": self.settings.shard_name, "once": True})
                self._with_backoff(self.run_until_idle)
                log.info("caught up", extra={"counters": self.metrics.snapshot()[0]})
            else:
                self._run_forever()
        except Unauthorized as exc:
            log.critical("CouchDB refused the worker's credentials (check COUCHDB_URL); exiting",
                         extra={"error": str(exc)})
            return EXIT_UNAUTHORIZED
        finally:
            try:
                self.write_status(final=True)
            except Exception:  # noqa: BLE001 - the status doc is best effort on the way out
                log.warning("could not write the final worker status")
        return EXIT_OK

    def run_until_idle(self) -> None:
        """Process every owned database until a pass finds nothing new, ``concurrency`` at a
        time. Raises ``CouchError``."""

        def one(name: str) -> None:
            if not self.stop_event.is_set():
                self.process_db(name)
                self.maybe_write_status()

        settled = False
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="process") as pool:
            while not self.stop_event.is_set():
                stale = self.discovery.stale()
                if not stale:
                    # On a cluster, look once more after a lagging shard copy had time to
                    # catch up (see ``_schedule_recheck``).
                    if settled or not self._on_cluster() or self.stop_event.wait(CLUSTER_RECHECK_S):
                        self._flush_early_warning()
                        return
                    settled = True
                    continue
                settled = False
                list(pool.map(one, [name for name, _seq in stale]))

    def _run_forever(self) -> None:
        dbq = self._dbq = DbQueue(self.settings.queue_size)

        def fatal(exc: BaseException) -> None:
            self._fatal = exc
            self.stop_event.set()

        thread = threading.Thread(target=self.discovery.run, args=(dbq, self.stop_event, fatal),
                                  name="discovery", daemon=True)
        thread.start()
        # The status is written from a thread of its own, so it stays fresh while a long batch
        # (or a server that is down) holds the processing loop.
        heartbeat = threading.Thread(target=self._heartbeat, name="status", daemon=True)
        heartbeat.start()
        log.info("worker started", extra={"shard": self.settings.shard_name, "feed": self.discovery.mode,
                                           "concurrency": self.settings.concurrency})
        processors = [threading.Thread(target=self._process_queue_or_stop, args=(dbq, fatal),
                                       name=f"process-{i}", daemon=True)
                      for i in range(2, self.settings.concurrency + 1)]
        for processor in processors:
            processor.start()
        try:
            self._process_queue(dbq)
        finally:
            self.stop_event.set()
            self._status_now.set()
            for processor in processors:
                processor.join(timeout=120)
            thread.join(timeout=self.settings.longpoll_timeout_s + 15)
            heartbeat.join(timeout=30)
        if self._fatal is not None:
            raise self._fatal

    def _process_queue(self, dbq: DbQueue) -> None:
        """Take databases off the queue and process each to the end of its feed, until stopped."""
        while not self.stop_event.is_set():
            name = dbq.get(timeout=0.5)
            if name is not None:
                found: list[bool] = []
                self._with_backoff(functools.partial(self._process_into, name, found))
                if not self.stop_event.is_set():  # stopped: maybe not read to the end
                    if any(found) and self._on_cluster():
                        self._schedule_recheck(name)
                    dbq.done(name)
                    self.metrics.forget_lag(name)
            self._queue_due_rechecks(dbq)
            self._after_step(dbq)

    def _process_into(self, name: str, found: list[bool]) -> None:
        found.append(self.process_db(name))

    # On a cluster ``_changes`` is read from one copy of each shard, and a copy may not yet
    # hold a write the others acknowledged (w=2 of n=3). No new ``_db_updates`` event comes
    # when that copy catches up, so a database that had changes is read once more shortly
    # after; the second read usually finds nothing and costs three small requests.
    def _on_cluster(self) -> bool:
        try:
            return self.client.has("cluster")
        except CouchError:  # unknown while the server is away: asked again next time
            return False

    def _schedule_recheck(self, name: str) -> None:
        with self._recheck_lock:
            heapq.heappush(self._rechecks, (time.monotonic() + CLUSTER_RECHECK_S, name))

    def _queue_due_rechecks(self, dbq: DbQueue) -> None:
        due = []
        with self._recheck_lock:
            while self._rechecks and self._rechecks[0][0] <= time.monotonic():
                due.append(heapq.heappop(self._rechecks)[1])
        for name in due:
            if not dbq.offer(name):  # the queue is full: try again shortly, never block here
                with self._recheck_lock:
                    heapq.heappush(self._rechecks, (time.monotonic() + 0.5, name))

    def _process_queue_or_stop(self, dbq: DbQueue, fatal: Callable[[BaseException], None]) -> None:
        """``_process_queue`` in an extra thread: an error it cannot handle stops the worker."""
        try:
            self._process_queue(dbq)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
            fatal(exc)

    def _with_backoff(self, action: Callable[[], None]) -> None:
        delay = 0.5
        while True:
            try:
                action()
                return
            except CouchUnavailable as exc:
                self.metrics.inc("retries")
                wait = random.uniform(delay / 2, delay)
                log.warning("CouchDB unavailable; backing off", extra={"error": str(exc), "wait_s": round(wait, 2)})
                if self.stop_event.wait(wait):
                    return
                delay = min(delay * 2, 30.0)

    def _after_step(self, dbq: DbQueue) -> None:
        """Keep what health reads current: the feed position once the queue drains (at most
        once a second while busy), and the status at once when the worker turns idle or busy."""
        idle = not dbq.pending()
        if self.discovery.mode == "_db_updates" and (
                idle or time.monotonic() - self._last_position_save >= 1.0):
            self._last_position_save = time.monotonic()
            try:
                self.discovery.position.save_processed(dbq)
            except CouchUnavailable:
                pass
        if idle:
            self._flush_early_warning()
        if idle != self._was_idle:
            self._was_idle = idle
            self._status_now.set()

    def _heartbeat(self) -> None:
        """Write the status every ``status_interval_s``, and at once when asked (idle/busy)."""
        while not self.stop_event.is_set():
            try:
                self.write_status()
            except Exception as exc:  # noqa: BLE001 - the heartbeat must outlive any one failure
                # The processing loop backs off (or exits on Unauthorized); a status the
                # heartbeat stops writing would read as a dead worker.
                log.warning("worker status not written", extra={"error": f"{type(exc).__name__}: {exc}"})
            self._status_now.wait(max(self.settings.status_interval_s, 0.05))
            self._status_now.clear()

    # -- status -------------------------------------------------------------------------

    def progress(self, *, count_limit: int = 20) -> dict:
        """What is left to do: ``catching_up`` (the first round of discovery is not done),
        ``dbs_pending``, ``docs_pending`` (exact for the databases read or counted; up to
        ``count_limit`` not yet read are counted here with ``_changes?limit=0``; the rest
        make it a lower bound, said by ``docs_pending_exact``), ``oldest_pending_at`` and
        ``lag_seconds``. Raises ``CouchError`` only as ``CouchUnavailable``/``Unauthorized``."""
        dbq = self._dbq
        pending = dbq.pending() if dbq is not None else {}
        _counters, lag = self.metrics.snapshot()
        docs, exact = 0, True
        for name in sorted(pending, key=pending.__getitem__):
            count = lag.get(name)
            if count is None and count_limit > 0:
                count_limit -= 1
                count = self.count_pending(name)
                if count is not None:
                    self.metrics.set_lag(name, count)
            if isinstance(count, int):
                docs += count
            else:
                exact = False
        oldest = min(pending.values()) if pending else None
        return {"catching_up": dbq is None or self.discovery.catching_up(dbq), "dbs_pending": len(pending),
                "docs_pending": docs, "docs_pending_exact": exact,
                "oldest_pending_at": dt.datetime.fromtimestamp(oldest, dt.UTC).isoformat(timespec="seconds")
                if oldest else None,
                "lag_seconds": round(time.time() - oldest, 1) if oldest else 0.0}

    def count_pending(self, name: str) -> int | None:
        """Changes in ``name`` after its checkpoint (all of them when it is ahead of the
        database): CouchDB's ``pending`` of an empty batch, else (pouchdb-server has integer
        sequences) ``update_seq`` minus the checkpoint."""
        try:
            db = self.client.db(name)
            seq = db.info().get("update_seq")
            since = self.checkpointer.load(name, update_seq=seq)["since"]
            answer = db.changes(since=since, limit=0)
            if isinstance(answer.get("pending"), int):
                return answer["pending"] + len(answer.get("results") or [])
            return max(seq - since, 0) if isinstance(seq, int) and isinstance(since, int) else None
        except (NotFound, Forbidden, BadRequest):
            return None

    def maybe_write_status(self) -> None:
        if time.monotonic() - self._last_status >= self.settings.status_interval_s:
            try:
                self.write_status()
            except CouchUnavailable:
                pass

    def write_status(self, *, final: bool = False) -> None:
        self._last_status = time.monotonic()
        progress = self.progress()
        self.metrics.set_progress(progress)
        counters, lag = self.metrics.snapshot()
        # The largest backlogs only: the doc is rewritten every few seconds.
        lag = dict(sorted(lag.items(), key=lambda item: -(item[1] or 0))[:STATUS_LAG_DBS])
        doc_id = f"worker_status:{self.settings.shard_name}"
        doc = self.ops.get_or_none(doc_id) or {"_id": doc_id, "created_at": now_iso()}
        doc.update(type="worker_status", status="stopped" if final else "running", db=None, doc_id=None,
                   school_id=None, county_id=None, updated_at=now_iso(), counters=counters, lag=lag,
                   progress=progress, feed=self.discovery.mode, shard=self.settings.shard_name,
                   position=self.discovery.position.name, shard_index=self.settings.shard_index,
                   shard_count=self.settings.shard_count,
                   db_pattern=self.settings.db_pattern)
        try:
            self.ops.put(doc)
        except Exception:  # noqa: BLE001 - a lost status update is replaced a few seconds later
            log.debug("status write lost a race")

    # -- one database -------------------------------------------------------------------

    def context(self, db_name: str) -> DbContext:
        return DbContext(name=db_name, inspections=db_name.startswith(INSPECTIONS_DB_PREFIX),
                         owner=self.registry.owner_of(db_name))

    def process_db(self, name: str) -> bool:
        """Read ``name``'s changes from the checkpoint to the end, batch by batch; True when
        there were any."""
        try:
            return self._process_db(name)
        except NotFound as exc:  # the database was deleted meanwhile
            log.info("database gone; skipped", extra={"db": name, "error": str(exc)})
            return False

    def _process_db(self, name: str) -> bool:
        db = self.client.db(name)
        found = False
        try:
            seq_before = db.info().get("update_seq")
        except NotFound:
            return found
        except Forbidden as exc:
            log.error("no access to database; skipped", extra={"db": name, "error": str(exc)})
            self.metrics.inc("errors")
            return found
        # A checkpoint ahead of ``seq_before`` did not come from this database: from the start.
        checkpoint = self.checkpointer.load(name, update_seq=seq_before)
        since = checkpoint["since"]
        ctx = self.context(name)
        while True:
            answer = db.changes(since=since, include_docs=True, conflicts=True, limit=self.settings.batch_size,
                                style="all_docs")
            rows = answer.get("results") or []
            if rows:
                found = True
                self.process_batch(ctx, rows)
                since = answer.get("last_seq", rows[-1].get("seq"))
            caught_up = len(rows) < self.settings.batch_size
            self.metrics.set_lag(name, 0 if caught_up else answer.get("pending"))
            if rows or checkpoint["seen_update_seq"] != seq_before:
                self.checkpointer.save(name, since=since, seen_update_seq=seq_before if caught_up else None)
            if caught_up or self.stop_event.is_set():
                return found

    def process_batch(self, ctx: DbContext, rows: list[dict]) -> None:
        """Handle one batch of change rows; writes canonical docs, then ops docs (with the
        device status mirrors) in one ``_bulk_docs``. Raises ``CouchError`` for server trouble
        (the caller retries the batch from the checkpoint)."""
        wanted: dict[str, str] = {}
        for row in rows:
            school_id = ctx.school_id_of(row.get("doc"))
            if school_id and not row["id"].startswith(SKIPPED_PREFIXES):
                try:
                    wanted[row["id"]] = canonical_id(row["id"], school_id)
                except (ValueError, SchemaError):
                    continue
        existing: dict[str, dict] = {}
        if wanted:
            answer = self.reports.all_docs(keys=sorted(set(wanted.values())), include_docs=True)
            existing = {r["key"]: r["doc"] for r in answer.get("rows", []) if r.get("doc")}
        canonicals: dict[str, dict] = {}
        ops_docs: list[dict] = []
        for row in rows:
            if row["id"].startswith(SKIPPED_PREFIXES) or not row.get("doc"):
                continue
            previous = existing.get(wanted.get(row["id"], ""))
            outcome = self._process_row(ctx, row, previous)
            self.metrics.inc("processed")
            if outcome.quarantined:
                self.metrics.inc("quarantined")
            if outcome.canonical is not None and not same_body(outcome.canonical, previous):
                canonicals[outcome.canonical["_id"]] = outcome.canonical
            ops_docs.extend(outcome.ops)
        if canonicals:
            for result in self.reports.bulk_docs(list(canonicals.values())):
                if result.ok:
                    self.metrics.inc("written")
                else:
                    self.metrics.inc("errors")
                    log.error("canonical write refused", extra={"db": ctx.name, "doc_id": result.id,
                                                                 "error": result.error, "reason": result.reason})
            self._update_early_warning(ctx, [canonicals[i] if not canonicals[i].get("_deleted") else
                                             existing.get(i) or {} for i in canonicals])
        self._write_ops(ctx, ops_docs, self._device_status_mirrors(ctx, rows))

    def _update_early_warning(self, ctx: DbContext, written: list[dict]) -> None:
        """Early warnings of the daily reports just written (sync/early_warning.py); a failure is
        logged and never holds up the batch."""
        daily = [doc for doc in written if doc.get("form") in ("daily_health", "explanation")]
        if self.early_warning is None or not daily:
            return
        try:
            self.early_warning.update(daily)
        except (CouchUnavailable, Unauthorized):
            raise
        except Exception as exc:  # noqa: BLE001 - statistics must never stop the feed
            self.metrics.inc("errors")
            log.warning("early warning not updated", extra={"db": ctx.name, "error": f"{type(exc).__name__}: {exc}"})

    def _flush_early_warning(self) -> None:
        """Early warnings waiting for their recompute (when the worker is idle)."""
        if self.early_warning is None or not self.early_warning.pending_count():
            return
        try:
            self.early_warning.flush()
        except Exception as exc:  # noqa: BLE001 - kept for the next flush; statistics never stop the feed
            self.metrics.inc("errors")
            log.warning("early warnings not updated; retried at the next flush",
                        extra={"error": f"{type(exc).__name__}: {exc}"})

    def _write_ops(self, ctx: DbContext, created: list[dict], mirrors: list[dict]) -> None:
        """One ``_bulk_docs`` to ``ops``: records that are only ever created (one that exists
        already, a 409, is kept as it is) and device status mirrors. A refused mirror is logged
        and left: the next change of its status document writes it again."""
        if not created and not mirrors:
            return
        mirror_ids = {doc["_id"] for doc in mirrors}
        for result in self.ops.bulk_docs(created + mirrors):
            if result.ok:
                continue
            if result.id in mirror_ids:
                self.metrics.inc("errors")
                log.warning("device status mirror not written; retried when the status changes",
                            extra={"db": ctx.name, "doc_id": result.id, "error": result.error,
                                   "reason": result.reason})
            elif result.error != "conflict":
                log.error("write failed", extra={"db": OPS_DB, "doc_id": result.id, "error": result.error,
                                                  "reason": result.reason})

    def _device_status_mirrors(self, ctx: DbContext, rows: list[dict]) -> list[dict]:
        """The ``ops`` mirrors to write for the batch's live ``device_status:*`` docs, only
        those that changed. Never raises for one document: an invalid status is logged and
        not mirrored; a deleted one leaves its mirror as it is (the last sync stays known)."""
        if ctx.inspections:
            return []
        sources = [row["doc"] for row in rows if row["id"].startswith(DEVICE_STATUS_PREFIX) and row.get("doc")
                   and row["doc"].get("_deleted") is not True]
        if not sources:
            return []
        now = now_iso()
        wanted: dict[str, dict] = {}
        for source in sources:
            source = _clean(source)
            try:
                mirror = self._mirror_of(ctx, source, now)
            except (CouchUnavailable, Unauthorized):
                raise
            except Exception as exc:  # noqa: BLE001 - a status doc must never hold up the batch
                log.warning("device status not mirrored", extra={"db": ctx.name, "doc_id": source.get("_id"),
                                                                 "error": f"{type(exc).__name__}: {exc}"})
                continue
            if mirror is not None:
                wanted[mirror["_id"]] = mirror
        if not wanted:
            return []
        try:
            answer = self.ops.all_docs(keys=sorted(wanted), include_docs=True)
        except CouchHTTPError as exc:
            if isinstance(exc, Unauthorized):
                raise
            log.warning("device status mirrors not read; not written", extra={"db": ctx.name, "error": str(exc)})
            return []
        existing = {row["key"]: row["doc"] for row in answer.get("rows", []) if row.get("doc")}
        out = []
        for doc_id, mirror in wanted.items():
            current = existing.get(doc_id)
            if mirror_changed(mirror, current):
                if current is not None:
                    mirror["_rev"] = current["_rev"]
                out.append(mirror)
        return out

    def _mirror_of(self, ctx: DbContext, source: dict, now: str) -> dict | None:
        school_id = ctx.school_id_of(source)
        issues = ctx.validate(source)
        if school_id is None or issues:
            log.warning("invalid device status not mirrored", extra={
                "db": ctx.name, "doc_id": source.get("_id"), "rev": source.get("_rev"),
                "codes": [issue.code for issue in issues] or ["wrong_school"]})
            return None
        return build_mirror(migrate(source), db_name=ctx.name, school_id=school_id,
                            county_id=self._county_of(ctx, school_id), received_at=now)

    def mirror_device_statuses(self) -> int:
        """Mirror the device status docs of every owned school database as they are now.

        Run once after upgrading to mirrors (``python -m sync mirror-device-status``): the
        feed mirrors a status only when it changes, and a silent device's never does.
        Returns how many mirrors were written; raises ``CouchError`` for server trouble.
        """
        written = 0
        for name in self.discovery.owned_dbs():
            if name.startswith(INSPECTIONS_DB_PREFIX) or self.stop_event.is_set():
                continue
            try:
                rows = self.client.db(name).all_docs(startkey=DEVICE_STATUS_PREFIX,
                                                     endkey=DEVICE_STATUS_PREFIX + "\ufff0", include_docs=True)["rows"]
            except NotFound:
                continue
            ctx = self.context(name)
            mirrors = self._device_status_mirrors(ctx, [{"id": r["id"], "doc": r["doc"]} for r in rows if r.get("doc")])
            self._write_ops(ctx, [], mirrors)
            written += len(mirrors)
        return written

    # -- one document -------------------------------------------------------------------

    def _process_row(self, ctx: DbContext, row: dict, previous: dict | None) -> RowOutcome:
        doc = row["doc"]
        last: BaseException | None = None
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return self._handle(ctx, row, previous)
            except (CouchUnavailable, Unauthorized):
                raise
            except Exception as exc:  # noqa: BLE001 - one poison document must not stop the feed
                last = exc
                log.warning("document failed", extra={"db": ctx.name, "doc_id": row["id"], "attempt": attempt,
                                                      "error": f"{type(exc).__name__}: {exc}"})
                if attempt < self.settings.max_attempts:
                    self.metrics.inc("retries")
                    self.registry.invalidate()
                    time.sleep(min(0.05 * 2**attempt, 1.0))
        assert last is not None
        self.metrics.inc("errors")
        school_id = ctx.school_id_of(doc)
        return RowOutcome(quarantined=True, ops=[quarantine_doc(
            db=ctx.name, body=_clean(doc), reasons=[error_reason("processing_error", last)],
            school_id=school_id, county_id=self._county_of(ctx, school_id), created_at=now_iso(),
            attempts=self.settings.max_attempts)])

    def _county_of(self, ctx: DbContext, school_id: str | None) -> str | None:
        if ctx.inspections:
            return ctx.owner
        school = self.registry.school(school_id) if school_id else None
        return (school or {}).get("county_id")

    def _handle(self, ctx: DbContext, row: dict, previous: dict | None) -> RowOutcome:
        doc = row["doc"]
        leaf_count = len(row.get("changes") or [])
        if doc.get("_conflicts") or leaf_count > 1:
            school_id = ctx.school_id_of(doc)
            resolution = self.resolver.resolve(ctx.name, row["id"], school_id=school_id,
                                               county_id=self._county_of(ctx, school_id))
            if resolution.status == "written":
                return RowOutcome()  # the merged revision arrives as the next change
        doc = _clean(doc)
        if doc.get("_deleted") is True:
            return self._deleted(ctx, doc, previous)
        school_id = ctx.school_id_of(doc)
        now = now_iso()
        issues = ctx.validate(doc)
        if issues:
            return self._quarantine(ctx, doc, [issue_reason(i) for i in issues], school_id, now)
        try:
            migrated = migrate(doc)
        except SchemaError as exc:
            return self._quarantine(ctx, doc, [error_reason(type(exc).__name__, exc)], school_id, now)
        school_id = school_id or migrated.get("school_id")
        school = self.registry.school(school_id) if school_id else None
        if school is None or not school_id:
            raise SchoolNotRegistered(f"the registry has no school:{school_id}")
        ops: list[dict] = []
        flags = []
        county_id = school.get("county_id")
        if previous is not None and previous.get("source", {}).get("rev") != doc["_rev"]:
            history = check_history(source_body(previous), migrated)
            if history:
                ops.append(history_review(db=ctx.name, body=doc, previous=source_body(previous), issues=history,
                                          school_id=school_id, county_id=county_id, created_at=now))
                kept = dict(previous, flags=sorted(set(previous.get("flags") or []) | {"history_violation"}))
                return RowOutcome(canonical=kept, ops=ops)
        roster = self.registry.roster(school_id)
        meta = migrated.get("meta") or {}
        author = meta.get("author")
        # The service writes officers' corrections and review decisions; its authors are officers.
        by_service = meta.get("device") in {SERVICE_DEVICE, self.client.username}
        if roster is not None and author not in roster and not by_service:
            flags.append("author_not_on_roster")
            ops.append(roster_review(db=ctx.name, body=doc, school_id=school_id, county_id=county_id,
                                     created_at=now))
        canonical = build_canonical(migrated, db_name=ctx.name, school=school, existing=previous, seen_at=now,
                                    settings=self.settings, flags=flags)
        return RowOutcome(canonical=canonical, ops=ops)

    def _quarantine(self, ctx: DbContext, doc: dict, reasons: list[dict], school_id: str | None,
                    now: str) -> RowOutcome:
        log.info("document quarantined", extra={"db": ctx.name, "doc_id": doc.get("_id"), "rev": doc.get("_rev"),
                                                "codes": [r["code"] for r in reasons]})
        return RowOutcome(quarantined=True, ops=[quarantine_doc(
            db=ctx.name, body=doc, reasons=reasons, school_id=school_id,
            county_id=self._county_of(ctx, school_id), created_at=now)])

    def _deleted(self, ctx: DbContext, tombstone: dict, previous: dict | None) -> RowOutcome:
        """A deleted source: history rules decide whether the canonical copy goes or stays."""
        if previous is None or is_worker_tombstone(tombstone):
            return RowOutcome()
        if previous.get("source", {}).get("deleted_rev") == tombstone["_rev"]:
            return RowOutcome(canonical=previous)
        if self._deleted_by_admin(tombstone):
            return RowOutcome(canonical={"_id": previous["_id"], "_rev": previous["_rev"], "_deleted": True})
        old = source_body(previous)
        issues = check_history(old, tombstone)
        if not issues:
            return RowOutcome(canonical={"_id": previous["_id"], "_rev": previous["_rev"], "_deleted": True})
        kept = dict(previous, flags=sorted(set(previous.get("flags") or []) | {"source_deleted"}),
                    source=dict(previous["source"], deleted_rev=tombstone["_rev"]))
        review = history_review(db=ctx.name, body=tombstone, previous=old, issues=issues,
                                school_id=previous.get("school_id"), county_id=previous.get("county_id"),
                                created_at=now_iso())
        return RowOutcome(canonical=kept, ops=[review])

    def _deleted_by_admin(self, tombstone: dict) -> bool:
        """The service deletes through an audited endpoint and names the audit record."""
        audit_id = (tombstone.get("deleted_by") or {}).get("audit_id") if isinstance(
            tombstone.get("deleted_by"), dict) else None
        if not isinstance(audit_id, str) or not audit_id.startswith("audit:"):
            return False
        audit = self.ops.get_or_none(audit_id)
        return bool(audit and audit.get("type") == "audit" and audit.get("doc_id") == tombstone["_id"])


def run_until_idle(client: CouchClient, settings: WorkerSettings) -> WorkerMetrics:
    """Process every owned database until caught up, in this process; returns the counters."""
    worker = Worker(client, settings)
    worker.run_until_idle()
    worker.write_status(final=True)
    return worker.metrics
