"""Devices cannot blind the worker (issue 12, item 2): checkpoints live in ``ops``, and a
checkpoint ahead of its database is read again from the start."""

from __future__ import annotations

import base64
import logging
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.checkpoint import (
    CHECKPOINT_NAME,
    Checkpointer,
    checkpoint_ahead,
    checkpoint_doc_name,
    seq_number,
    shard_seqs,
    unpack_seq,
)
from sync.errors import Forbidden, Unauthorized
from sync.provision import OPS_DB, REPORTS_DB, provision_school, school_db_name
from sync.worker import run_until_idle
from tests.sync.test_worker_support import (  # noqa: F401 - fixtures
    COUNTY,
    days_ago,
    device,
    put_branch,
    report,
    world,
)

AHEAD_BY = 1000
# A sequence CouchDB 3.4 answered for a database of two shards on one node.
COUCHDB_SEQ = ("3-g1AAAACveJzLYWBgYMpgTmEQS84vTc5ISYo3tbQ0cjA0MtczAELDHJB8HguQZGgAUv-BICuDOZEpFyjAnpSSamiab"
               "I5TMyFzExmS6qEGMoINTExNsUy2TMapKwsAXvcuCg")


def _etf(term) -> bytes:
    """Erlang's ``term_to_binary`` (without the version byte) for what a sequence holds."""
    if isinstance(term, bool):
        raise TypeError(term)
    if isinstance(term, int):
        if 0 <= term < 256:
            return b"a" + bytes([term])
        if -(2**31) <= term < 2**31:
            return b"b" + struct.pack(">i", term)
        digits = abs(term).to_bytes((abs(term).bit_length() + 7) // 8, "little")
        return b"n" + bytes([len(digits), term < 0]) + digits
    if isinstance(term, str):
        return b"d" + struct.pack(">H", len(term)) + term.encode("latin-1")
    if isinstance(term, bytes):
        return b"m" + struct.pack(">I", len(term)) + term
    if isinstance(term, tuple):
        return b"h" + bytes([len(term)]) + b"".join(_etf(t) for t in term)
    if not term:
        return b"j"
    return b"l" + struct.pack(">I", len(term)) + b"".join(_etf(t) for t in term) + b"j"


def pack_seq(copies: list) -> str:
    """A CouchDB sequence naming ``copies`` (``{Node, [B, E], {Seq, Uuid, EpochNode}}``)."""
    total = sum(position[0] if isinstance(position, tuple) else position for _n, _r, position in copies)
    opaque = base64.urlsafe_b64encode(b"\x83" + _etf(copies)).rstrip(b"=").decode()
    return f"{total}-{opaque}"


def ahead_of(seq):
    """A forged position ``AHEAD_BY`` changes past ``seq``, in the server's own spelling: an
    integer for pouchdb-server; for CouchDB every copy's sequence moved on (same node, range,
    uuid and epoch, so CouchDB would honour it and read nothing)."""
    if isinstance(seq, int):
        return seq + AHEAD_BY
    copies = unpack_seq(seq)
    assert copies, seq
    return pack_seq([(node, rng, (pos[0] + AHEAD_BY, *pos[1:]) if isinstance(pos, tuple) else pos + AHEAD_BY)
                     for node, rng, pos in copies])


def reported(w, school_id: str, date: str) -> bool:
    """Whether the summaries count the school as reported on ``date`` (the view they read)."""
    rows = w.couch.db(REPORTS_DB).view("summaries", "reported", key=[COUNTY, date, school_id],
                                           reduce=False)["rows"]
    return bool(rows)


# -- against the server ---------------------------------------------------------------------

def test_a_device_cannot_make_the_worker_skip_its_school(world, device):  # noqa: F811 - fixture
    school = world.add_school()
    name, as_device = device(school)
    db_name = school_db_name(school)
    own = as_device.db(db_name)
    own.put(report(school, days_ago(2), device=name))
    run_until_idle(world.couch, world.settings())
    assert reported(world, school, days_ago(2))

    # The old attack: the worker's former checkpoint in the school's database, far ahead.
    # A device may write _local docs in its own database (PouchDB replication needs it).
    forged = ahead_of(own.info()["update_seq"])
    own.put_local(CHECKPOINT_NAME, {"since": forged, "seen_update_seq": forged})
    # The checkpoint that counts is in ops, which refuses the device.
    for attempt in (lambda: as_device.db(OPS_DB).put_local(checkpoint_doc_name(db_name), {"since": forged}),
                    lambda: as_device.db(OPS_DB).get_local(checkpoint_doc_name(db_name))):
        with pytest.raises((Unauthorized, Forbidden)):
            attempt()

    own.put(report(school, days_ago(1), device=name))
    assert Checkpointer(world.couch).behind(db_name) is True  # what health reads: not caught up
    run_until_idle(world.couch, world.settings())

    assert f"daily_health:{school}:{days_ago(1)}" in world.canonicals()
    assert reported(world, school, days_ago(1))
    assert Checkpointer(world.couch).behind(db_name) is False


def test_a_checkpoint_ahead_of_the_database_is_read_again_from_the_start(world, caplog):  # noqa: F811
    school = world.add_school()
    db = world.db(school)
    db.put(report(school, days_ago(3)))
    run_until_idle(world.couch, world.settings())
    first = world.canonicals()
    db.put(report(school, days_ago(2)))
    checkpoints = Checkpointer(world.couch)
    # Corruption (or the checkpoint of a former, longer database of that name), by an admin.
    forged = ahead_of(db.info()["update_seq"])
    checkpoints.save(db.name, since=forged, seen_update_seq=forged)
    assert checkpoints.behind(db.name) is True

    with caplog.at_level(logging.WARNING, logger="sync.checkpoint"):
        metrics = run_until_idle(world.couch, world.settings())

    assert any(r.getMessage().startswith("checkpoint ahead") and r.db == db.name for r in caplog.records)
    docs = world.canonicals()
    assert f"daily_health:{school}:{days_ago(2)}" in docs and reported(world, school, days_ago(2))
    # Read again from the start, idempotently: the first report's canonical was not rewritten.
    assert metrics.counters["written"] == 1
    assert all(docs[doc_id]["_rev"] == doc["_rev"] for doc_id, doc in first.items())
    saved = checkpoints.stored(db.name)
    assert saved is not None and not checkpoint_ahead(saved["since"], db.info()["update_seq"])
    assert checkpoints.behind(db.name) is False


def test_old_checkpoints_are_ignored_and_reading_again_changes_nothing(world):  # noqa: F811
    school = world.add_school(roster=("t1",))
    db = world.db(school)
    db.put(report(school, days_ago(3)))
    db.put(report(school, days_ago(2), author="stranger"))  # a roster review in ops
    bad = report(school, days_ago(1))
    bad["data"]["students_present"] = 10_000  # quarantined in ops (written as replication would)
    put_branch(db, bad, "1-badbadbad", [])
    # A checkpoint where the worker kept it before: it says "all read" and is not believed.
    seq = db.info()["update_seq"]
    db.put_local(CHECKPOINT_NAME, {"since": seq, "seen_update_seq": seq})

    run_until_idle(world.couch, world.settings())
    canonicals = world.canonicals()
    ops_docs = {doc["_id"]: doc["_rev"] for doc in world.ops_docs()}
    assert {f"daily_health:{school}:{days_ago(n)}" for n in (2, 3)} <= set(canonicals)
    assert {"quarantine", "review_item"} <= {doc["type"] for doc in world.ops_docs()}

    # No checkpoint in ops: the database is read from the start again, and nothing changes.
    Checkpointer(world.couch).reset(db.name)
    metrics = run_until_idle(world.couch, world.settings())
    assert metrics.counters["processed"] >= 3 and metrics.counters["written"] == 0
    assert {k: v["_rev"] for k, v in world.canonicals().items()} == {k: v["_rev"] for k, v in canonicals.items()}
    assert {doc["_id"]: doc["_rev"] for doc in world.ops_docs()} == ops_docs


# -- the comparison alone -------------------------------------------------------------------

def test_a_real_couchdb_sequence_is_read():
    assert seq_number(COUCHDB_SEQ) == 3
    copies = shard_seqs(COUCHDB_SEQ)
    assert copies is not None and sorted(copies.values()) == [1, 2]
    assert not checkpoint_ahead(COUCHDB_SEQ, COUCHDB_SEQ)
    assert checkpoint_ahead(ahead_of(COUCHDB_SEQ), COUCHDB_SEQ)
    assert not checkpoint_ahead(COUCHDB_SEQ, ahead_of(COUCHDB_SEQ))


@pytest.mark.parametrize(("since", "update_seq", "ahead"), [
    (0, 5, False), (None, 5, False), ("0", 5, False), (5, 5, False), (4, 5, False), (6, 5, True),
    (10**12, 5, True), ("junk", 5, True), ({"x": 1}, 5, True),
    # CouchDB refuses these as a since: not a position in the database.
    (5, COUCHDB_SEQ, True), ("3-notbase64!", COUCHDB_SEQ, True),
])
def test_ahead_by_cases(since, update_seq, ahead):
    assert checkpoint_ahead(since, update_seq) is ahead


_copy = st.tuples(st.sampled_from(["couchdb@n1", "couchdb@n2", "couchdb@n3"]),
                  st.sampled_from([[0, 2**31 - 1], [2**31, 2**32 - 1]]),
                  st.integers(0, 2**40))


@given(since=st.lists(_copy, min_size=1, max_size=6), current=st.lists(_copy, min_size=1, max_size=6))
def test_copies_are_compared_only_with_themselves(since, current):
    def spell(copies):
        return pack_seq([(node, rng, (seq, b"abc1234", node)) for node, rng, seq in copies])

    mine, now = shard_seqs(spell(since)), shard_seqs(spell(current))
    assert mine == {(n, r[0], r[1]): s for n, r, s in since}  # read back as written (last wins)
    expected = any(mine[key] > now[key] for key in mine.keys() & now.keys())
    # Sums of different copies never decide: a cluster's copies count differently.
    assert checkpoint_ahead(spell(since), spell(current)) is expected


def test_a_database_created_again_forgets_the_checkpoint_of_its_namesake(world):  # noqa: F811
    """pouchdb-server's sequences restart at 0: a school database deleted and provisioned
    again must not inherit the old database's position (it could pass it unnoticed)."""
    school = world.add_school()
    db = world.db(school)
    db.put(report(school, days_ago(3)))
    run_until_idle(world.couch, world.settings())
    checkpoints = Checkpointer(world.couch)
    checkpoints.save(db.name, since=ahead_of(db.info()["update_seq"]))

    db.delete_database()
    assert provision_school(world.couch, school).created_dbs == [db.name]

    assert checkpoints.stored(db.name) is None
