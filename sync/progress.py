"""Is the worker really idle? The worker shards' own status, checked against the server.

A shard's ``worker_status`` doc in ``ops`` says what it knows it has left to do, but it
cannot know of a change it has not been told about yet, and it is rewritten only every few
seconds. ``worker_progress`` therefore also asks CouchDB directly which followed databases
changed after what the worker has processed:

* with ``_db_updates`` (CouchDB): one ``_db_updates?since=<saved position>`` per shard. The
  worker saves its position as soon as its queue drains, so an idle worker's position is
  current, and any followed database named after it has unprocessed changes. CouchDB adds
  events to that feed within about half a second of a write (``[global_changes]
  max_write_delay``): that is the only window in which "idle" can be stale.
* without it (pouchdb-server): whether each followed database has changes after its
  checkpoint in ``ops`` (``Checkpointer.behind``, the worker's own staleness test, which also
  counts a checkpoint ahead of its database as unprocessed), for up to ``POLL_CHECK_LIMIT``
  databases (the embedded server holds a demo; past that the check is skipped and said so).

``state`` is ``down`` (no shard alive), ``catching_up`` (a shard has not checked every
database once since it started), ``busy`` or ``idle``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sync.checkpoint import Checkpointer
from sync.couch import CouchClient
from sync.errors import BadRequest, NotFound
from sync.feeds import owned_by
from sync.provision import OPS_DB

POLL_CHECK_LIMIT = 2000
DB_UPDATES_LIMIT = 10000


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def shard_statuses(client: CouchClient, *, stale_after_s: float, now: datetime | None = None) -> list[dict]:
    """The shards' ``worker_status`` docs, each with ``alive`` (running and heard from within
    ``stale_after_s``). Raises ``CouchError``."""
    now = now or datetime.now(UTC)
    try:
        rows = client.db(OPS_DB).all_docs(startkey="worker_status:", endkey="worker_status:\ufff0",
                                          include_docs=True)["rows"]
    except NotFound:  # not provisioned yet: no worker has reported
        return []
    docs = []
    for row in rows:
        doc = dict(row["doc"])
        age = (now - _parse_time(doc["updated_at"])).total_seconds()
        doc["alive"] = doc.get("status") == "running" and age < stale_after_s
        docs.append(doc)
    return docs


def unprocessed_dbs(client: CouchClient, statuses: list[dict]) -> tuple[set[str], bool]:
    """Followed databases with changes the alive shards have not processed, as far as the
    server can tell; and whether that could be checked (False: no position saved yet, or too
    many databases to poll). Raises ``CouchError``."""
    alive = [doc for doc in statuses if doc["alive"]]
    if any(doc.get("feed") == "_db_updates" for doc in alive):
        found: set[str] = set()
        verified = True
        for doc in alive:
            names, ok = _behind_db_updates(client, doc)
            found |= names
            verified = verified and ok
        return found, verified
    return _behind_by_polling(client, alive)


def _behind_db_updates(client: CouchClient, status: dict) -> tuple[set[str], bool]:
    saved = (client.db(OPS_DB).get_local(status.get("position") or "") or {}).get("since")
    if saved is None:
        return set(), False
    try:
        answer = client.request("GET", "/_db_updates", params={"since": saved, "feed": "normal",
                                                                "limit": DB_UPDATES_LIMIT})
    except BadRequest:
        return set(), False
    names = {row.get("db_name", "") for row in answer.get("results", []) if row.get("type") != "deleted"}
    return {n for n in names if _owned_by_shard(n, status)}, True


def _owned_by_shard(name: str, status: dict) -> bool:
    return owned_by(name, status.get("shard_index") or 1, status.get("shard_count") or 1, status.get("db_pattern"))


def _behind_by_polling(client: CouchClient, alive: list[dict]) -> tuple[set[str], bool]:
    names = [name for name in client.all_dbs() if any(_owned_by_shard(name, doc) for doc in alive)]
    if len(names) > POLL_CHECK_LIMIT:
        return set(), False
    checkpointer = Checkpointer(client)

    def behind(name: str) -> bool:
        try:
            return checkpointer.behind(name)
        except NotFound:
            return False

    with ThreadPoolExecutor(8) as pool:
        flags = list(pool.map(behind, names))
    return {name for name, late in zip(names, flags, strict=True) if late}, True


def worker_progress(client: CouchClient, *, stale_after_s: float, now: datetime | None = None) -> dict[str, Any]:
    """The worker's state for health and metrics (see the module docstring). Raises ``CouchError``."""
    now = now or datetime.now(UTC)
    statuses = shard_statuses(client, stale_after_s=stale_after_s, now=now)
    shards = []
    for doc in statuses:
        progress = doc.get("progress") or {}
        shards.append({"shard": doc.get("shard"), "updated_at": doc["updated_at"], "alive": doc["alive"],
                       "feed": doc.get("feed"), "catching_up": bool(progress.get("catching_up", True)),
                       "dbs_pending": progress.get("dbs_pending", 0), "docs_pending": progress.get("docs_pending", 0),
                       "oldest_pending_at": progress.get("oldest_pending_at"),
                       "counters": doc.get("counters", {})})
    alive = [s for s in shards if s["alive"]]
    unseen, verified = unprocessed_dbs(client, statuses) if alive else (set(), False)
    docs_pending = sum(s["docs_pending"] or 0 for s in alive)
    oldest = [s["oldest_pending_at"] for s in alive if s["oldest_pending_at"]]
    lag_seconds = max((now - _parse_time(min(oldest))).total_seconds(), 0.0) if oldest else 0.0
    if not alive:
        state = "down"
    elif any(s["catching_up"] for s in alive):
        state = "catching_up"
    elif unseen or any(s["dbs_pending"] for s in alive):
        state = "busy"
    else:
        state = "idle"
    return {"state": state, "idle": state == "idle", "running": bool(alive),
            "dbs_pending": sum(s["dbs_pending"] or 0 for s in alive), "docs_pending": docs_pending,
            "dbs_changed_unseen": len(unseen), "verified_with_server": verified,
            "lag_seconds": round(lag_seconds, 1), "lag_total": docs_pending, "shards": shards}


__all__ = ["shard_statuses", "unprocessed_dbs", "worker_progress"]
