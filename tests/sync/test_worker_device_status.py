"""Device status mirrors in ``ops`` and the saved ``_db_updates`` position, against a real server."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from mobile_schema import examples
from sync import Worker, run_until_idle
from sync.checkpoint import Checkpointer
from sync.device_status import MIRROR_TYPE, mirrored_statuses
from sync.errors import Forbidden
from sync.feeds import DatabaseDiscovery, DbQueue, FeedPosition, position_doc_name
from sync.provision import OPS_DB, school_db_name
from tests.sync import test_worker_support as support
from tests.sync.test_worker_support import COUNTY, days_ago, put_branch, report

device = support.device  # fixture
world = support.world  # fixture


def status_doc(device_name: str, school_id: str, **data) -> dict:
    doc = examples.device_status(device=device_name, school_id=school_id, **data)
    doc["_id"] = f"device_status:{device_name}"
    doc["school_id"] = school_id
    doc["meta"] = examples.meta(device=device_name, clocks={})
    return doc


@pytest.fixture
def mirrors(couch):
    """Names the mirrors a test makes; they are deleted from ``ops`` afterwards."""
    made: list[str] = []
    yield made
    ops = couch.db(OPS_DB)
    for device_name in made:
        doc = ops.get_or_none(f"device_status:{device_name}")
        if doc:
            ops.delete(doc["_id"], doc["_rev"])


def test_a_device_status_is_mirrored_in_ops_updated_and_kept_when_deleted(world, device, mirrors):
    school = world.add_school()
    name, as_device = device(school)
    mirrors.append(name)
    db = as_device.db(school_db_name(school))
    status = status_doc(name, school, last_sync_at="2026-11-28T01:00:00.000Z", waiting_count=2,
                        last_error="replication failed: ETIMEDOUT")
    status["_rev"] = db.put(status)["rev"]
    db.put(report(school, days_ago(1), device=name))
    ops = world.couch.db(OPS_DB)

    run_until_idle(world.couch, world.settings())

    mirror = ops.get(f"device_status:{name}")
    assert mirror["type"] == MIRROR_TYPE and mirror["device"] == name and mirror["doc_id"] == status["_id"]
    assert (mirror["db"], mirror["school_id"], mirror["county_id"]) == (school_db_name(school), school, COUNTY)
    assert mirror["last_sync_at"] == "2026-11-28T01:00:00.000Z" and mirror["waiting_count"] == 2
    assert mirror["app_version"] == "0.1.0" and mirror["storage_used_bytes"] == 1_234_567
    assert mirror["clock_offset_ms"] == -1500 and mirror["last_error"] == "replication failed: ETIMEDOUT"
    assert mirror["source_rev"] == status["_rev"] and mirror["received_at"]
    assert f"daily_health:{school}:{days_ago(1)}" in world.canonicals()  # same batch, still written
    # the county's view has it
    assert mirrored_statuses(ops, COUNTY)[school][name]["waiting_count"] == 2

    # unchanged: not rewritten, not even when the database is read again from the start
    run_until_idle(world.couch, world.settings())
    Checkpointer(world.couch).reset(school_db_name(school))
    run_until_idle(world.couch, world.settings())
    assert ops.get(f"device_status:{name}")["_rev"] == mirror["_rev"]

    status["data"].update(last_sync_at="2026-11-29T06:30:00.000Z", waiting_count=0, last_error=None)
    status["_rev"] = db.put(status)["rev"]
    run_until_idle(world.couch, world.settings())
    updated = ops.get(f"device_status:{name}")
    assert updated["last_sync_at"] == "2026-11-29T06:30:00.000Z" and updated["waiting_count"] == 0
    assert updated["last_error"] is None and updated["source_rev"] == status["_rev"]
    assert updated["received_at"] >= mirror["received_at"]

    # a device deletes nothing (validate_doc_update); deleted by an admin, the last status it
    # reported stays known
    with pytest.raises(Forbidden):
        db.delete(status["_id"], status["_rev"])
    world.db(school).delete(status["_id"], status["_rev"])
    run_until_idle(world.couch, world.settings())
    assert ops.get(f"device_status:{name}")["_rev"] == updated["_rev"]


def test_an_invalid_status_is_not_mirrored_and_the_batch_goes_on(world, mirrors):
    school = world.add_school()
    db = world.db(school)
    bad = status_doc("device_bad", school, waiting_count=-1)
    put_branch(db, bad, "1-badbadbad", [])  # as an old device's replicated doc: no validation
    elsewhere = status_doc("device_elsewhere", "another-school")
    put_branch(db, elsewhere, "1-elsewhere", [])
    mirrors.extend(["device_bad", "device_elsewhere"])
    db.put(report(school, days_ago(1)))

    run_until_idle(world.couch, world.settings())

    ops = world.couch.db(OPS_DB)
    assert ops.get_or_none("device_status:device_bad") is None
    assert ops.get_or_none("device_status:device_elsewhere") is None
    assert f"daily_health:{school}:{days_ago(1)}" in world.canonicals()
    assert Checkpointer(world.couch).stored(db.name)["seen_update_seq"] == db.info()["update_seq"]


def test_a_refused_mirror_is_logged_and_written_when_the_status_changes(world, device, mirrors, caplog):
    school = world.add_school()
    name, as_device = device(school)
    mirrors.append(name)
    db = as_device.db(school_db_name(school))
    status = status_doc(name, school)
    status["_rev"] = db.put(status)["rev"]
    db.put(report(school, days_ago(1), device=name))
    ops = world.couch.db(OPS_DB)
    # ops refuses this device's mirror, as a full disk or a bad deploy might
    check = "if (doc.device === " + json.dumps(name) + ") { throw({forbidden: 'not now'}); }"
    refuse = {"_id": f"_design/refuse_{world.run_id}", "validate_doc_update": "function (doc) { " + check + " }"}
    refuse["_rev"] = ops.put(refuse)["rev"]
    try:
        with caplog.at_level(logging.WARNING, logger="sync.worker"):
            metrics = run_until_idle(world.couch, world.settings())
    finally:
        ops.delete(refuse["_id"], refuse["_rev"])

    assert ops.get_or_none(f"device_status:{name}") is None
    assert any(r.getMessage().startswith("device status mirror not written") for r in caplog.records)
    assert metrics.counters["errors"] == 1
    assert f"daily_health:{school}:{days_ago(1)}" in world.canonicals()
    assert (Checkpointer(world.couch).stored(school_db_name(school))["seen_update_seq"]
            == world.db(school).info()["update_seq"])

    run_until_idle(world.couch, world.settings())  # nothing changed: not retried yet
    assert ops.get_or_none(f"device_status:{name}") is None
    status["data"]["waiting_count"] = 7
    db.put(status)
    run_until_idle(world.couch, world.settings())
    assert ops.get(f"device_status:{name}")["waiting_count"] == 7


def test_existing_statuses_are_mirrored_once_on_request(world, mirrors):
    school = world.add_school()
    world.db(school).put(status_doc("device_backfill", school, waiting_count=3))
    mirrors.append("device_backfill")
    run_until_idle(world.couch, world.settings())
    ops = world.couch.db(OPS_DB)
    first = ops.get("device_status:device_backfill")
    ops.delete(first["_id"], first["_rev"])  # as before the upgrade that added mirrors

    worker = Worker(world.couch, world.settings())
    assert worker.mirror_device_statuses() == 1
    assert ops.get("device_status:device_backfill")["waiting_count"] == 3
    assert worker.mirror_device_statuses() == 0  # unchanged: nothing written
    again = ops.get("device_status:device_backfill")
    ops.delete(again["_id"], again["_rev"])
    done = world.run_cli("mirror-device-status")
    assert done.returncode == 0, done.stderr
    assert "wrote 1 device status mirrors" in done.stderr
    assert ops.get("device_status:device_backfill")["waiting_count"] == 3


# -- the saved _db_updates position ------------------------------------------------------------------

def test_queue_tickets_say_which_names_are_processed():
    stop = threading.Event()
    dbq = DbQueue(10)
    assert dbq.oldest_unfinished() is None and dbq.issued == 0
    assert dbq.put("school_a", stop) and dbq.put("school_b", stop)
    assert dbq.put("school_a", stop)  # already waiting: keeps its ticket
    assert dbq.issued == 2 and dbq.oldest_unfinished() == 1
    assert dbq.get(0.1) == "school_a"
    assert dbq.put("school_a", stop)  # changed again while being processed: a new ticket
    assert dbq.issued == 3
    dbq.done("school_a")
    assert dbq.oldest_unfinished() == 2
    assert dbq.get(0.1) == "school_b"
    dbq.done("school_b")
    assert dbq.oldest_unfinished() == 3
    assert dbq.get(0.1) == "school_a"
    dbq.done("school_a")
    assert dbq.oldest_unfinished() is None
    full = DbQueue(1)
    assert full.put("school_x", stop)
    stop.set()
    assert not full.put("school_y", stop)  # abandoned on stop: stays unfinished
    full.get(0.1)
    full.done("school_x")
    assert full.oldest_unfinished() == 2


def test_queue_never_hands_out_a_name_that_is_being_processed():
    stop = threading.Event()
    dbq = DbQueue(10)
    dbq.put("school_a", stop)
    assert dbq.get(0.1) == "school_a"  # consumer 1 is processing it
    dbq.put("school_a", stop)  # changed again meanwhile
    dbq.put("school_b", stop)
    assert dbq.get(0.1) is None  # consumer 2 would take school_a: parked instead
    assert dbq.get(0.1) == "school_b"
    assert set(dbq.pending()) == {"school_a", "school_b"}
    dbq.done("school_a")
    assert dbq.get(0.1) == "school_a"  # the parked name, once consumer 1 is done with it
    dbq.done("school_a")
    dbq.done("school_b")
    assert dbq.oldest_unfinished() is None and dbq.pending() == {}
    # offer never waits: it queues while there is room and says so when there is none
    small = DbQueue(1)
    assert small.offer("school_c") and small.offer("school_c")  # already waiting
    assert not small.offer("school_d") and "school_d" not in small.pending()
    assert small.get(0.1) == "school_c"


def test_feed_position_is_saved_only_past_processed_names(world):
    settings = world.settings()
    position = FeedPosition(world.couch, settings)
    ops = world.couch.db(OPS_DB)
    stop = threading.Event()
    dbq = DbQueue(10)
    try:
        assert position.load() is None
        dbq.put("school_a", stop)
        position.mark(dbq.issued, "seq-1")
        dbq.put("school_b", stop)
        position.mark(dbq.issued, "seq-2")
        assert position.save_processed(dbq) is None  # nothing processed yet
        dbq.done(dbq.get(0.1))
        assert position.save_processed(dbq) == "seq-1"
        assert ops.get_local(position_doc_name(settings))["since"] == "seq-1"
        dbq.done(dbq.get(0.1))
        assert position.save_processed(dbq) == "seq-2"
        assert FeedPosition(world.couch, settings).load() == "seq-2"
        # another shard, or a worker limited to other databases, has a position of its own
        assert FeedPosition(world.couch, settings.with_changes(db_pattern="^other")).load() is None
    finally:
        doc = ops.get_local(position_doc_name(settings))
        if doc:
            ops.delete(doc["_id"], doc["_rev"])


def test_a_restart_resumes_db_updates_without_checking_every_database(world):
    if not world.couch.has("_db_updates"):
        pytest.skip("the server has no _db_updates (pouchdb-server polls)")
    school = world.add_school()
    db = world.db(school)
    db.put(report(school, days_ago(1)))
    settings = world.settings(longpoll_timeout_s=2.0)
    ops = world.couch.db(OPS_DB)
    worker = Worker(world.couch, settings)

    def follow(dbq: DbQueue, stop: threading.Event) -> threading.Thread:
        discovery = DatabaseDiscovery(world.couch, settings, Checkpointer(world.couch))
        thread = threading.Thread(target=discovery.run, args=(dbq, stop, lambda exc: None), daemon=True)
        thread.start()
        return thread

    def next_name(dbq: DbQueue, within_s: float) -> str | None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            name = dbq.get(timeout=0.2)
            if name is not None:
                worker.process_db(name)
                dbq.done(name)
                return name
        return None

    try:
        stop, dbq = threading.Event(), DbQueue(100)
        thread = follow(dbq, stop)
        assert next_name(dbq, 60) == school_db_name(school)  # first start: every database checked
        db.put(report(school, days_ago(2)))
        assert next_name(dbq, 60) == school_db_name(school)  # then from the feed
        deadline = time.monotonic() + 60
        while not (ops.get_local(position_doc_name(settings)) or {}).get("since") and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        thread.join(timeout=15)
        assert (ops.get_local(position_doc_name(settings)) or {}).get("since")

        # A checkpoint reset makes the database stale for a full check; move the saved position
        # past whatever event the reset made, so only a full check would queue the database.
        Checkpointer(world.couch).reset(school_db_name(school))
        time.sleep(1)
        ops.put_local(position_doc_name(settings),
                      {"since": world.couch.db_updates(since="now", feed="normal")["last_seq"]})
        stop, dbq = threading.Event(), DbQueue(100)
        thread = follow(dbq, stop)
        assert next_name(dbq, 4) is None
        db.put(report(school, days_ago(3)))
        assert next_name(dbq, 10) == school_db_name(school)
        stop.set()
        thread.join(timeout=15)
    finally:
        doc = ops.get_local(position_doc_name(settings))
        if doc:
            ops.delete(doc["_id"], doc["_rev"])
