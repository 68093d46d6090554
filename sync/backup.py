"""Backups to a second CouchDB, run by CouchDB's own replicator, and restores from it.

``python -m sync backup --target URL`` does two things:

* ``registry``, ``reports`` and ``ops`` get one **continuous** ``_replicator`` job each
  (a handful of jobs, far below CouchDB's ``[replicator] max_jobs``, never swapped out);
* every school and inspections database, and ``_users`` (device accounts), is copied by
  **one-shot** ``_replicator`` jobs in a sliding window of ``concurrency`` jobs. A job that
  starts in a free slot runs at once and frees the slot when done, so CouchDB's scheduler
  never has to rotate them (500 jobs at once, 20 swapped a minute: one continuous job per
  school does not scale). Run it from a timer (deploy/systemd/school-reporting-backup.*).

``_security`` is not replicated by CouchDB, so it is copied explicitly after each job.
Job state is read from ``_scheduler/docs`` where the server has it (CouchDB 3), else from
the ``_replication_state`` fields the replicator writes into its documents (pouchdb-server
and CouchDB both write the final state there). ``--check`` reports the same states and,
for a database with no job document, compares document counts on both sides.

``python -m sync restore --source URL --db NAME`` copies a database back from the backup
with a one-shot ``_replicate`` (every revision and conflict branch), then its ``_security``.
The worker's checkpoint is a ``_local`` document, which replication does not copy, so the
worker reads a restored database from the start again (idempotent: unchanged canonical
copies are not rewritten).

Every function raises ``sync.errors.CouchError`` when either server fails.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from sync.couch import CouchClient, split_credentials
from sync.errors import Conflict, CouchUnavailable, NotFound
from sync.provision import CORE_DBS, INSPECTIONS_DB_PREFIX, SCHOOL_DB_PREFIX

REPLICATOR_DB = "_replicator"
USERS_DB = "_users"
DEFAULT_CONCURRENCY = 20
# Replicator states, from _scheduler/docs (CouchDB 3) and from the documents themselves.
DONE_STATES = frozenset({"completed"})
FAILED_STATES = frozenset({"failed", "error"})
RUNNING_STATES = frozenset({"running", "triggered"})


def db_url(server_url: str, name: str) -> str:
    """``http://u:p@host:5984`` + ``school_x`` -> ``http://u:p@host:5984/school_x``."""
    return f"{server_url.rstrip('/')}/{quote(name, safe='')}"


def target_key(target_url: str) -> str:
    """A short stable name for a backup target (its URL without credentials), used in job ids."""
    base, _user, _password = split_credentials(target_url)
    return hashlib.sha256(base.encode()).hexdigest()[:10]


def continuous_job_id(target_url: str, name: str) -> str:
    return f"backup:{target_key(target_url)}:continuous:{name}"


def batch_job_id(target_url: str, name: str) -> str:
    return f"backup:{target_key(target_url)}:once:{name}"


def batch_dbs(client: CouchClient, match: str | None = None) -> list[str]:
    """The databases copied in one-shot batches: schools, inspections and ``_users``."""
    names = [n for n in client.all_dbs() if n.startswith((SCHOOL_DB_PREFIX, INSPECTIONS_DB_PREFIX))]
    names.append(USERS_DB)
    return [n for n in sorted(names) if match is None or re.search(match, n)]


def core_dbs(match: str | None = None) -> list[str]:
    return [n for n in CORE_DBS if match is None or re.search(match, n)]


@dataclass
class BackupRun:
    """What one ``backup`` run did."""

    continuous: dict[str, str] = field(default_factory=dict)  # db -> "created" / "updated" / "kept"
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # db -> state and reason

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, kw_only=True)
class DbBackupState:
    """One database's backup as ``--check`` sees it."""

    db: str
    mode: str  # "continuous" or "batch"
    state: str  # a replicator state, "no job", or "counts equal" / "counts differ"
    ok: bool
    detail: str = ""


class BackupManager:
    """Sets up and watches backup jobs from the server ``client`` (``source_url`` is the same
    server with credentials, as the replicator needs them) to ``target_url``."""

    def __init__(self, client: CouchClient, *, source_url: str, target_url: str,
                 sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.source_url = source_url
        self.target_url = target_url
        self.target_base = split_credentials(target_url)[0]
        self.jobs = client.db(REPLICATOR_DB)
        self._sleep = sleep

    # -- jobs ---------------------------------------------------------------------------

    def _job(self, name: str, *, continuous: bool) -> dict:
        body = {"source": db_url(self.source_url, name), "target": db_url(self.target_url, name),
                "create_target": True}
        if continuous:
            body["continuous"] = True
        return body

    def ensure_replicator_db(self) -> None:
        self.jobs.create(exist_ok=True)  # CouchDB 3 single_node creates it; pouchdb-server may not

    def setup_continuous(self, names: Iterable[str] = CORE_DBS) -> dict[str, str]:
        """One continuous job per database; an existing job with other URLs (a rotated
        password) is replaced, an identical one kept. Returns db -> what happened."""
        self.ensure_replicator_db()
        outcome = {}
        for name in names:
            wanted = dict(self._job(name, continuous=True), _id=continuous_job_id(self.target_url, name))
            current = self.jobs.get_or_none(wanted["_id"])
            if current is not None and all(current.get(k) == v for k, v in wanted.items()) \
                    and current.get("_replication_state") not in FAILED_STATES:
                outcome[name] = "kept"
            else:
                if current is not None:
                    wanted["_rev"] = current["_rev"]
                self.jobs.put(wanted)
                outcome[name] = "updated" if current is not None else "created"
            self.copy_security(name)
        return outcome

    def _submit_once(self, name: str) -> str:
        """(Re)create the one-shot job document of ``name``; a finished previous one is removed
        first, since a replicator document describes one run."""
        job_id = batch_job_id(self.target_url, name)
        for _attempt in range(3):
            current = self.jobs.get_or_none(job_id)
            try:
                if current is not None:
                    self.jobs.delete(job_id, current["_rev"])
                self.jobs.put(dict(self._job(name, continuous=False), _id=job_id))
                return job_id
            except (Conflict, NotFound):
                continue  # the replicator wrote its state meanwhile: read it again
        raise Conflict(409, "conflict", f"could not replace {REPLICATOR_DB}/{job_id}")

    def states(self, job_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """job id -> (state, reason), from ``_scheduler/docs`` or the documents' own fields.
        A job the server has not picked up yet reads as ``("pending", "")``."""
        ids = list(job_ids)
        found: dict[str, tuple[str, str]] = {}
        scheduler = self.client.scheduler_docs()
        if scheduler is not None:
            for doc in scheduler:
                if doc.get("database") == REPLICATOR_DB and doc.get("doc_id") in ids:
                    found[doc["doc_id"]] = (doc.get("state") or "pending", str(doc.get("info") or ""))
        missing = [i for i in ids if i not in found]
        if missing:
            rows = self.jobs.all_docs(keys=missing, include_docs=True)["rows"]
            for row in rows:
                doc = row.get("doc")
                if doc and doc.get("_replication_state"):
                    found[row["key"]] = (doc["_replication_state"], str(doc.get("_replication_state_reason") or ""))
        return {i: found.get(i, ("pending", "")) for i in ids}

    def run_batches(self, names: Iterable[str], *, concurrency: int = DEFAULT_CONCURRENCY,
                    poll_s: float = 1.0, job_timeout_s: float = 3600.0,
                    progress: Callable[[int, int], None] | None = None) -> BackupRun:
        """Copy ``names`` with one-shot jobs, at most ``concurrency`` at a time."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.ensure_replicator_db()
        run = BackupRun()
        waiting = deque(names)
        total = len(waiting)
        running: dict[str, tuple[str, float]] = {}  # job id -> (db, started)
        while waiting or running:
            while waiting and len(running) < concurrency:
                name = waiting.popleft()
                running[self._submit_once(name)] = (name, time.monotonic())
            self._sleep(poll_s)
            for job_id, (state, reason) in self.states(running).items():
                name, started = running[job_id]
                if state in DONE_STATES:
                    self.copy_security(name)
                    run.completed.append(name)
                elif state in FAILED_STATES:
                    run.failed[name] = f"{state}: {reason}".rstrip(": ")
                elif time.monotonic() - started > job_timeout_s:
                    run.failed[name] = f"still {state} after {job_timeout_s:.0f}s"
                else:
                    continue
                del running[job_id]
                if progress:
                    progress(len(run.completed) + len(run.failed), total)
        return run

    def copy_security(self, name: str) -> None:
        """Copy ``_security`` to the backup (replication does not). A database missing on
        either side is skipped: a continuous job creates its target a moment later."""
        try:
            security = self.client.db(name).get_security()
            if not security:
                return
            with CouchClient(self.target_url) as target:
                db = target.db(name)
                if db.exists() and db.get_security() != security:
                    db.put_security(security)
        except NotFound:
            return

    def remove_jobs(self) -> int:
        """Delete every job document of this target (stops its continuous jobs); returns how many."""
        if not self.jobs.exists():
            return 0
        prefix = f"backup:{target_key(self.target_url)}:"
        rows = self.jobs.all_docs(startkey=prefix, endkey=prefix + "\ufff0")["rows"]
        for row in rows:
            for _attempt in range(3):
                current = self.jobs.get_or_none(row["id"])
                if current is None:
                    break
                try:
                    self.jobs.delete(row["id"], current["_rev"])
                except (Conflict, NotFound, CouchUnavailable):
                    pass
                # pouchdb-server 4.2.0 crashes right after a running continuous job's document
                # is deleted (its replicator writes state into the deleted doc); the embedded
                # server is supervised and comes back: wait for it. CouchDB does not do this.
                self._wait_until_up()
        return len(rows)

    def _wait_until_up(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self._sleep(0.3)
            try:
                self.client.info()
                return
            except CouchUnavailable:
                if time.monotonic() > deadline:
                    raise

    # -- check --------------------------------------------------------------------------

    def check(self, *, match: str | None = None) -> list[DbBackupState]:
        """The state of every backed-up database (see the module docstring)."""
        plan = [(n, "continuous", continuous_job_id(self.target_url, n)) for n in core_dbs(match)]
        plan += [(n, "batch", batch_job_id(self.target_url, n)) for n in batch_dbs(self.client, match)]
        states = self.states([job_id for _n, _m, job_id in plan]) if self.jobs.exists() else {}
        with CouchClient(self.target_url) as target:
            out = []
            for name, mode, job_id in plan:
                state, reason = states.get(job_id, ("pending", ""))
                if state in DONE_STATES | FAILED_STATES | RUNNING_STATES | {"crashing", "initializing"}:
                    ok = state in RUNNING_STATES if mode == "continuous" else state in DONE_STATES
                    out.append(DbBackupState(db=name, mode=mode, state=state, ok=ok, detail=reason))
                    continue
                out.append(self._compare_counts(target, name, mode))
            return out

    def _compare_counts(self, target: CouchClient, name: str, mode: str) -> DbBackupState:
        source_info = self.client.db(name).info()
        try:
            target_info = target.db(name).info()
        except NotFound:
            return DbBackupState(db=name, mode=mode, state="no job", ok=False, detail="missing on the backup")
        counts = [(info.get("doc_count"), info.get("doc_del_count", 0) or 0) for info in (source_info, target_info)]
        equal = counts[0] == counts[1]
        return DbBackupState(db=name, mode=mode, state="counts equal" if equal else "counts differ", ok=equal,
                             detail=f"docs/deleted here {counts[0][0]}/{counts[0][1]}, "
                                    f"backup {counts[1][0]}/{counts[1][1]}")


@dataclass(frozen=True, kw_only=True)
class RestoreResult:
    db: str
    docs_written: int
    doc_count: int
    backup_doc_count: int
    security_restored: bool


def restore(client: CouchClient, *, own_url: str, source_url: str, name: str) -> RestoreResult:
    """Bring database ``name`` back from the backup server ``source_url``: every document,
    revision and conflict branch, then ``_security``. Into an existing database this merges
    (replication only adds revisions). Raises ``NotFound`` when the backup lacks ``name``."""
    with CouchClient(source_url) as backup:
        backup_db = backup.db(name)
        backup_info = backup_db.info()  # NotFound: nothing to restore from
        security = backup_db.get_security()
    answer = client.replicate(db_url(source_url, name), db_url(own_url, name), create_target=True)
    restored = client.db(name)
    if security:
        restored.put_security(security)
    history = (answer.get("history") or [{}])[0]
    written = answer.get("docs_written", history.get("docs_written", 0))
    return RestoreResult(db=name, docs_written=int(written or 0), doc_count=restored.info().get("doc_count", 0),
                         backup_doc_count=backup_info.get("doc_count", 0), security_restored=bool(security))


def run_command(client: CouchClient, own_url: str, args) -> int:
    """``python -m sync backup|restore`` (arguments parsed in ``sync.__main__``). Exit codes:
    0 done, 1 some database failed or is behind, 2 bad usage."""
    import sys

    if args.command == "restore":
        for name in args.db:
            result = restore(client, own_url=own_url, source_url=args.source, name=name)
            print(f"{result.db}: {result.docs_written} documents written; {result.doc_count} here, "
                  f"{result.backup_doc_count} in the backup; _security "
                  f"{'restored' if result.security_restored else 'left as it was (none in the backup)'}")
        return 0
    if not args.target:
        print("error: give --target URL (or set BACKUP_URL)", file=sys.stderr)
        return 2
    manager = BackupManager(client, source_url=own_url, target_url=args.target)
    shown = manager.target_base
    if args.check:
        states = manager.check(match=args.match)
        for item in states:
            print(f"{'ok ' if item.ok else 'BAD'} {item.mode:<10} {item.state:<13} {item.db}  {item.detail}".rstrip())
        bad = sum(1 for item in states if not item.ok)
        print(f"{len(states) - bad}/{len(states)} databases backed up to {shown}")
        return 1 if bad else 0
    for name, what in manager.setup_continuous(core_dbs(args.match)).items():
        print(f"continuous {name} -> {shown}: {what}")
    names = batch_dbs(client, args.match)

    def progress(done: int, total: int) -> None:
        print(f"\rone-shot copies: {done}/{total}", end="", file=sys.stderr, flush=True)

    run = manager.run_batches(names, concurrency=args.concurrency, progress=progress)
    print(file=sys.stderr)
    for name, reason in sorted(run.failed.items()):
        print(f"FAILED {name}: {reason}")
    print(f"{len(run.completed)}/{len(names)} databases copied to {shown}")
    return 0 if run.ok else 1


__all__ = ["BackupManager", "BackupRun", "DbBackupState", "RestoreResult", "batch_dbs", "batch_job_id",
           "continuous_job_id", "db_url", "restore", "run_command", "target_key"]
