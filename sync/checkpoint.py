"""Where the worker is in each database's changes feed: ``_local/sync_worker``.

A ``_local/`` doc is never replicated to devices, so the worker's state never makes
conflicts with what teachers write. The checkpoint moves only after the batch's writes
are committed (PouchDB's checkpointer does the same).
"""

from __future__ import annotations

from typing import Any

from sync.canonical import now_iso
from sync.couch import CouchClient

CHECKPOINT_NAME = "sync_worker"


class Checkpointer:
    """Reads and writes the checkpoint of one worker in each database it follows."""

    def __init__(self, client: CouchClient, name: str = CHECKPOINT_NAME, *, writer: str | None = None):
        self.client = client
        self.name = name
        self.writer = writer  # the worker shard that saves (``1-of-2``), recorded for operators
        self._revs: dict[str, str] = {}  # db -> the checkpoint's revision last seen (saves a read per save)

    def load(self, db_name: str) -> dict:
        """``{"since": seq or 0, "seen_update_seq": ...}``; an empty checkpoint when none."""
        doc = self.client.db(db_name).get_local(self.name) or {}
        if "_rev" in doc:
            self._revs[db_name] = doc["_rev"]
        return {"since": doc.get("since", 0), "seen_update_seq": doc.get("seen_update_seq")}

    def save(self, db_name: str, *, since: Any, seen_update_seq: Any = None) -> None:
        self._revs[db_name] = self.client.db(db_name).put_local(
            self.name, {"since": since, "seen_update_seq": seen_update_seq, "updated_at": now_iso(),
                        "shard": self.writer}, rev=self._revs.get(db_name))

    def behind(self, db_name: str) -> bool:
        """Whether ``db_name`` has changes after its checkpoint. Raises ``NotFound``.

        CouchDB answers ``_changes?since=<checkpoint>&limit=0`` with ``pending``. Its
        ``update_seq`` cannot be used for this on a cluster: each read may come from another
        copy of the shard and spell the same point differently. pouchdb-server has no
        ``pending``; its integer ``update_seq`` is compared with the one the checkpoint saw.
        """
        checkpoint = self.load(db_name)
        db = self.client.db(db_name)
        answer = db.changes(since=checkpoint["since"], limit=0)
        if isinstance(answer.get("pending"), int):
            return answer["pending"] > 0 or bool(answer.get("results"))
        return db.info().get("update_seq") != checkpoint["seen_update_seq"]

    def reset(self, db_name: str) -> None:
        """Start the database over from the beginning (``python -m sync reprocess``)."""
        self.save(db_name, since=0, seen_update_seq=None)
