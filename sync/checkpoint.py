"""Where the worker is in each database's changes feed: ``ops/_local/checkpoint:<db>``.

**In ``ops``, not in the followed database.** A device may write ``_local/`` documents in
its own database (PouchDB replication keeps its own checkpoints there), so a checkpoint kept
there (``_local/sync_worker`` before issue 12) let a device move the worker past its next
reports. ``ops`` is admin-only (``sync.provision.ADMIN_ONLY_SECURITY``). Old
``_local/sync_worker`` documents in school databases are ignored: a database with no
checkpoint in ``ops`` is read from the start, which is idempotent (a canonical copy that
would not change is not rewritten; ops records are only created once).

**A ``_local/`` document in ``ops``.** Never in ``ops``'s changes feed, views or backups and
kept without a revision history, so rewriting 20,000 of them after every batch leaves
nothing to compact or index. On a cluster each is written to the copies of its shard like
any document; a copy that missed a write can answer an older checkpoint, which only costs
a re-read. A backup or a restored database therefore has no checkpoint: read from the start.

**A checkpoint ahead of the database is invalid**, whatever its origin (corruption, a copy
of another database's, a database deleted and created again): the worker logs a warning and
reads that database from the start (``checkpoint_ahead``).

The checkpoint moves only after the batch's writes are committed (PouchDB's checkpointer
does the same).
"""

from __future__ import annotations

import base64
import logging
import struct
import zlib
from typing import Any

from sync.canonical import now_iso
from sync.couch import CouchClient
from sync.provision import OPS_DB

log = logging.getLogger(__name__)

# The worker's checkpoint inside each school database before issue 12; ignored since. The
# name stays importable for code that still shows it (see docs/architecture.md).
CHECKPOINT_NAME = "sync_worker"
CHECKPOINT_PREFIX = "checkpoint:"


def checkpoint_doc_name(db_name: str) -> str:
    """The name of ``db_name``'s checkpoint in ``ops`` (``_local/`` + this)."""
    return CHECKPOINT_PREFIX + db_name


# -- update sequences ---------------------------------------------------------------------

def seq_number(seq: Any) -> int | None:
    """The counting part of an update sequence: ``123`` (pouchdb-server) or the ``123`` of
    ``123-g1AAAA...`` (CouchDB, the sum over the shard copies it names); None when it has none."""
    if isinstance(seq, bool):
        return None
    if isinstance(seq, int):
        return seq
    if isinstance(seq, str):
        head = seq.split("-", 1)[0]
        return int(head) if head.isdigit() else None
    return None


def unpack_seq(seq: Any) -> list | None:
    """The shard copies a CouchDB opaque sequence names, as Erlang terms in Python (atoms as
    ``str``, binaries as ``bytes``, tuples, lists), or None when ``seq`` is not one.

    The part after ``N-`` is base64url of Erlang's ``term_to_binary`` of a list of
    ``{Node, [Begin, End], {Seq, Uuid, EpochNode}}`` (``{Node, [Begin, End], Seq}`` before
    CouchDB 2.1): CouchDB's ``fabric_view_changes:pack_seqs``.
    """
    if not isinstance(seq, str) or "-" not in seq:
        return None
    opaque = seq.split("-", 1)[1]
    try:
        raw = base64.urlsafe_b64decode(opaque + "=" * (-len(opaque) % 4))
        if raw[:1] != b"\x83":
            return None
        if raw[1:2] == b"P":  # compressed: 4-byte size, then zlib
            raw = b"\x83" + zlib.decompress(raw[6:])
        reader = _Etf(raw, 1)
        term = reader.term()
        return term if isinstance(term, list) and reader.pos == len(raw) else None
    except (ValueError, IndexError, RecursionError, struct.error, zlib.error):
        return None


def shard_seqs(seq: Any) -> dict[tuple[str, int, int], int] | None:
    """``{(node, range begin, range end): sequence}`` of a CouchDB opaque sequence, or None
    when ``seq`` is not one this can read (``unpack_seq``)."""
    items = unpack_seq(seq)
    if not items:
        return None
    out = {}
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 3 and isinstance(item[1], list) and len(item[1]) == 2):
            return None
        node, (begin, end), position = item
        number = position[0] if isinstance(position, tuple) and position else position
        if not (isinstance(node, str) and isinstance(begin, int) and isinstance(end, int)
                and isinstance(number, int) and not isinstance(number, bool)):
            return None
        out[(node, begin, end)] = number
    return out


class _Etf:
    """Just enough of Erlang's external term format to read a packed sequence."""

    def __init__(self, data: bytes, pos: int):
        self.data, self.pos = data, pos

    def _take(self, size: int) -> bytes:
        chunk = self.data[self.pos:self.pos + size]
        if len(chunk) != size:
            raise ValueError("truncated term")
        self.pos += size
        return chunk

    def _u(self, fmt: str) -> int:
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def term(self) -> Any:
        tag = self._u(">B")
        if tag == 97:  # small integer
            return self._u(">B")
        if tag == 98:  # integer
            return self._u(">i")
        if tag in (110, 111):  # small / large big integer
            size = self._u(">B") if tag == 110 else self._u(">I")
            sign = self._u(">B")
            value = int.from_bytes(self._take(size), "little")
            return -value if sign else value
        if tag in (100, 118):  # atom (latin-1 / utf-8), 2-byte length
            return self._take(self._u(">H")).decode("latin-1" if tag == 100 else "utf-8")
        if tag in (115, 119):  # small atom (latin-1 / utf-8), 1-byte length
            return self._take(self._u(">B")).decode("latin-1" if tag == 115 else "utf-8")
        if tag == 109:  # binary
            return self._take(self._u(">I"))
        if tag in (104, 105):  # small / large tuple
            size = self._u(">B") if tag == 104 else self._u(">I")
            return tuple(self.term() for _ in range(size))
        if tag == 108:  # list, then its tail (nil for a proper list)
            items = [self.term() for _ in range(self._u(">I"))]
            self.term()
            return items
        if tag == 107:  # a list of small integers sent as a string
            return list(self._take(self._u(">H")))
        if tag == 106:  # nil
            return []
        raise ValueError(f"term tag {tag} not expected in a sequence")


def checkpoint_ahead(since: Any, update_seq: Any) -> bool:
    """Whether a checkpoint ``since`` is past the database's current ``update_seq``, or
    cannot be a position in it at all: it did not come from this database's feed.

    pouchdb-server counts with integers: compared as they are. CouchDB's sequences are
    ``N-<opaque>``, ``N`` the sum of the sequences of the shard copies the opaque part names.
    On a cluster the copies of a shard count the same point differently (one that was down
    received the writes it missed in fewer updates), so sums read from different copies
    prove nothing, and a false "ahead" after every node outage would re-read databases again
    and again. The copies are compared one by one instead, each only with itself (same node
    and range: a copy's sequence never goes back). A copy the database's answer does not name
    is judged on a later look, when that copy answers (CouchDB itself rewinds a sequence of a
    shard file that was created again). A ``since`` that cannot be read where ``update_seq``
    can (CouchDB would refuse it) is invalid: re-reading is the safe side.
    """
    if since in (None, 0, "0"):
        return False
    mine, current = seq_number(since), seq_number(update_seq)
    if mine is None or current is None:
        return True
    now = shard_seqs(update_seq)
    if now is None:  # pouchdb-server's integers (or a sequence this cannot read: the sums)
        return mine > current
    copies = shard_seqs(since)
    if copies is None:
        return True
    return any(copies[key] > now[key] for key in copies.keys() & now.keys())


# -- the checkpoints ------------------------------------------------------------------------

class Checkpointer:
    """Reads and writes the worker's checkpoint of each database it follows, in ``ops``."""

    def __init__(self, client: CouchClient, *, writer: str | None = None):
        self.client = client
        self.ops = client.db(OPS_DB)
        self.writer = writer  # the worker shard that saves (``1-of-2``), recorded for operators
        self._revs: dict[str, str] = {}  # db -> the checkpoint's revision last seen (saves a read per save)

    def stored(self, db_name: str) -> dict | None:
        """The checkpoint document as stored (``since``, ``seen_update_seq``, ``updated_at``,
        ``shard``), or None. Raises ``CouchError``."""
        doc = self.ops.get_local(checkpoint_doc_name(db_name))
        if doc is not None and "_rev" in doc:
            self._revs[db_name] = doc["_rev"]
        return doc

    def load(self, db_name: str, *, update_seq: Any = None) -> dict:
        """``{"since": seq or 0, "seen_update_seq": ..., "ahead": bool}``; the start when
        there is none. Given the database's ``update_seq``, a checkpoint ahead of it
        (``checkpoint_ahead``) is logged and replaced by the start. Raises ``CouchError``."""
        doc = self.stored(db_name) or {}
        since, seen = doc.get("since", 0), doc.get("seen_update_seq")
        if update_seq is not None and checkpoint_ahead(since, update_seq):
            log.warning("checkpoint ahead of the database; reading it from the start",
                        extra={"db": db_name, "since": since, "update_seq": update_seq})
            return {"since": 0, "seen_update_seq": None, "ahead": True}
        return {"since": since, "seen_update_seq": seen, "ahead": False}

    def save(self, db_name: str, *, since: Any, seen_update_seq: Any = None) -> None:
        self._revs[db_name] = self.ops.put_local(
            checkpoint_doc_name(db_name),
            {"db": db_name, "since": since, "seen_update_seq": seen_update_seq, "updated_at": now_iso(),
             "shard": self.writer}, rev=self._revs.get(db_name))

    def behind(self, db_name: str) -> bool:
        """Whether ``db_name`` has changes after its checkpoint, or a checkpoint ahead of it
        (read again from the start). Raises ``NotFound`` for a missing database.

        CouchDB answers ``_changes?since=<checkpoint>&limit=0`` with ``pending``. Its
        ``update_seq`` cannot be used for this on a cluster: each read may come from another
        copy of the shard and spell the same point differently. pouchdb-server has no
        ``pending``; its integer ``update_seq`` is compared with the one the checkpoint saw.
        """
        db = self.client.db(db_name)
        update_seq = db.info().get("update_seq")
        checkpoint = self.load(db_name, update_seq=update_seq)
        if checkpoint["ahead"]:
            return True
        answer = db.changes(since=checkpoint["since"], limit=0)
        if isinstance(answer.get("pending"), int):
            return answer["pending"] > 0 or bool(answer.get("results"))
        return update_seq != checkpoint["seen_update_seq"]

    def reset(self, db_name: str) -> None:
        """Start the database over from the beginning (``python -m sync reprocess``)."""
        self.save(db_name, since=0, seen_update_seq=None)


__all__ = ["CHECKPOINT_NAME", "Checkpointer", "checkpoint_ahead", "checkpoint_doc_name", "seq_number",
           "shard_seqs", "unpack_seq"]
