"""Replication jobs CouchDB runs itself: ``_replicator`` documents (e.g. a continuous backup
of ``registry``, ``reports`` and ``ops`` to another CouchDB).

Source and target are plain URL strings (both CouchDB 3 and pouchdb-server take them); a
bare database name means this server, and is expanded to its URL with the service's
credentials, which CouchDB's replicator needs. Passwords in URLs are never returned or
audited. CouchDB has no "paused" state: pausing deletes the ``_replicator`` doc and keeps
its definition in ``ops`` (``replication_paused:<id>``); resuming writes it back.
State comes from ``_scheduler/docs`` where the server has it, else from the document's
own ``_replication_state`` fields.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from server.admin.errors import ConflictError, InvalidInput, NotFoundError
from server.audit import AuditLog
from sync.couch import CouchClient, split_credentials
from sync.errors import Conflict
from sync.provision import OPS_DB

REPLICATOR_DB = "_replicator"
PAUSED_PREFIX = "replication_paused:"
JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
DB_NAME_RE = re.compile(r"^[a-z][a-z0-9_$()+/-]{0,237}$")
JOB_FIELDS = ("source", "target", "continuous", "create_target")


def mask_url(url) -> str:
    """The URL without its password (``http://admin:***@host/db``)."""
    if not isinstance(url, str):
        url = (url or {}).get("url", "") if isinstance(url, dict) else str(url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{parts.username}:***@{host}", parts.path, parts.query, ""))


class Replications:
    """Create, pause, resume and delete jobs; takes the admin ``CouchClient``, the service's
    CouchDB URL (with its credentials, for local databases) and the audit log."""

    def __init__(self, couch: CouchClient, service_url: str, audit: AuditLog):
        self.couch = couch
        self.service_url = service_url
        self.replicator = couch.db(REPLICATOR_DB)
        self.ops = couch.db(OPS_DB)
        self.audit = audit

    def _endpoint(self, value: str, field: str) -> str:
        value = (value or "").strip()
        if DB_NAME_RE.match(value):
            base, user, password = split_credentials(self.service_url)
            parts = urlsplit(base)
            netloc = parts.netloc
            if user:
                netloc = f"{quote(user, safe='')}:{quote(password or '', safe='')}@{netloc}"
            return urlunsplit((parts.scheme, netloc, f"{parts.path}/{quote(value, safe='')}", "", ""))
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
            raise InvalidInput(f"{field}: a database name or an http(s) URL of a database")
        return value

    def _state(self, doc: dict, scheduler: dict | None) -> dict:
        if scheduler is not None:
            return {"state": scheduler.get("state"), "state_time": scheduler.get("last_updated"),
                    "state_reason": info.get("error") if isinstance(info := scheduler.get("info"), dict) else None,
                    "state_source": "_scheduler/docs"}
        return {"state": doc.get("_replication_state") or "unknown",
                "state_time": doc.get("_replication_state_time"),
                "state_reason": doc.get("_replication_state_reason"), "state_source": "document"}

    def _public(self, job_id: str, doc: dict, state: dict) -> dict:
        return {"id": job_id, "source": mask_url(doc.get("source")), "target": mask_url(doc.get("target")),
                "continuous": bool(doc.get("continuous")), "create_target": bool(doc.get("create_target")),
                "paused": False, **state}

    def jobs(self) -> list[dict]:
        self.replicator.create(exist_ok=True)
        rows = self.replicator.all_docs(include_docs=True)["rows"]
        scheduler = {d.get("doc_id"): d for d in (self.couch.scheduler_docs() or [])
                     if d.get("database", REPLICATOR_DB).endswith(REPLICATOR_DB)}
        has_scheduler = self.couch.has("_scheduler")
        out = []
        for row in rows:
            if row["id"].startswith("_design/") or not row.get("doc"):
                continue
            state = self._state(row["doc"], scheduler.get(row["id"], {}) if has_scheduler else None)
            out.append(self._public(row["id"], row["doc"], state))
        for row in self.ops.all_docs(startkey=PAUSED_PREFIX, endkey=PAUSED_PREFIX + "\ufff0",
                                     include_docs=True)["rows"]:
            job = (row.get("doc") or {}).get("job") or {}
            out.append(dict(self._public(row["id"][len(PAUSED_PREFIX):], job,
                                         {"state": "paused", "state_time": row["doc"].get("paused_at"),
                                          "state_reason": None, "state_source": "ops"}), paused=True))
        return sorted(out, key=lambda j: j["id"])

    def job(self, job_id: str) -> dict:
        for item in self.jobs():
            if item["id"] == job_id:
                return item
        raise NotFoundError(f"no replication job {job_id!r}")

    def create(self, *, who: str, job_id: str, source: str, target: str, continuous: bool = True,
               create_target: bool = False) -> dict:
        """Raises ``InvalidInput`` or ``ConflictError`` (the id is taken)."""
        if not JOB_ID_RE.match(job_id or ""):
            raise InvalidInput("id: 1-100 of letters, digits, '.', '_' and '-'")
        doc = {"_id": job_id, "source": self._endpoint(source, "source"), "target": self._endpoint(target, "target"),
               "continuous": bool(continuous), "create_target": bool(create_target)}
        if doc["source"] == doc["target"]:
            raise InvalidInput("source and target are the same database")
        self.replicator.create(exist_ok=True)
        if self.ops.get_or_none(PAUSED_PREFIX + job_id) is not None:
            raise ConflictError(f"job {job_id!r} exists (paused)")
        try:
            self.replicator.put(doc)
        except Conflict as exc:
            raise ConflictError(f"job {job_id!r} exists already") from exc
        public = self._public(job_id, doc, {"state": "created", "state_time": None, "state_reason": None,
                                            "state_source": "document"})
        self.audit.record(who=who, action="replication.create", target=f"replication:{job_id}",
                          after={k: public[k] for k in JOB_FIELDS})
        return public

    def _check_stoppable(self, doc: dict) -> None:
        # pouchdb-server 4.2.0 (no _scheduler) crashes when the doc of a running replication is
        # deleted: its replicator then updates the deleted doc and the rejection is unhandled.
        if not self.couch.has("_scheduler") and doc.get("_replication_state") == "triggered":
            raise ConflictError("the development server (pouchdb-server) cannot stop a running replication "
                                "without crashing; wait until it has completed (CouchDB can)")

    def pause(self, *, who: str, job_id: str) -> dict:
        """Raises ``NotFoundError`` or ``ConflictError`` (see ``_check_stoppable``)."""
        doc = self.replicator.get_or_none(job_id) if JOB_ID_RE.match(job_id or "") else None
        if doc is None:
            if self.ops.get_or_none(PAUSED_PREFIX + job_id) is not None:
                return self.job(job_id)
            raise NotFoundError(f"no replication job {job_id!r}")
        self._check_stoppable(doc)
        from server.audit import utc_now_iso

        job = {k: doc[k] for k in JOB_FIELDS if k in doc}
        self.ops.put({"_id": PAUSED_PREFIX + job_id, "type": "replication_paused", "job": job,
                      "paused_at": utc_now_iso(), "paused_by": who})
        try:
            self.replicator.delete(job_id, doc["_rev"])
        except Conflict as exc:
            raise ConflictError("the job changed meanwhile; try again") from exc
        self.audit.record(who=who, action="replication.pause", target=f"replication:{job_id}",
                          before={"paused": False}, after={"paused": True})
        return self.job(job_id)

    def resume(self, *, who: str, job_id: str) -> dict:
        paused = self.ops.get_or_none(PAUSED_PREFIX + job_id) if JOB_ID_RE.match(job_id or "") else None
        if paused is None:
            if JOB_ID_RE.match(job_id or "") and self.replicator.get_or_none(job_id) is not None:
                return self.job(job_id)
            raise NotFoundError(f"no paused replication job {job_id!r}")
        try:
            self.replicator.put(dict(paused["job"], _id=job_id))
        except Conflict as exc:
            raise ConflictError(f"job {job_id!r} exists already") from exc
        self.ops.delete(paused["_id"], paused["_rev"])
        self.audit.record(who=who, action="replication.resume", target=f"replication:{job_id}",
                          before={"paused": True}, after={"paused": False})
        return self.job(job_id)

    def delete(self, *, who: str, job_id: str) -> None:
        before = self.job(job_id)
        doc = self.replicator.get_or_none(job_id)
        if doc is not None:
            self._check_stoppable(doc)
            self.replicator.delete(job_id, doc["_rev"])
        paused = self.ops.get_or_none(PAUSED_PREFIX + job_id)
        if paused is not None:
            self.ops.delete(paused["_id"], paused["_rev"])
        self.audit.record(who=who, action="replication.delete", target=f"replication:{job_id}",
                          before={k: before[k] for k in (*JOB_FIELDS, "paused")})
