"""The worker against a real server: canonical reports, quarantine, checkpoints, history."""

from __future__ import annotations

import copy
import time

import pytest

from mobile_schema import examples
from sync import Worker, run_until_idle
from sync.checkpoint import Checkpointer
from sync.design import METRIC_FIELDS
from sync.errors import Forbidden
from sync.provision import OPS_DB, REPORTS_DB, school_db_name
from tests.sync import test_worker_support as support
from tests.sync.test_worker_support import days_ago, put_branch, report

device = support.device  # fixture
world = support.world  # fixture


def test_device_reports_become_canonical_with_metrics_and_timeliness(world, device):
    school = world.add_school()
    name, as_device = device(school)
    late_date = days_ago(3)
    on_time_offline = report(school, late_date, device=name, author="t1")
    # Filed before the deadline (10:00 local = 02:00 UTC) on the device, synced days later.
    on_time_offline["meta"]["submitted_at"] = f"{late_date}T01:00:00.000Z"
    on_time_offline["meta"]["clock_offset_ms"] = 60_000
    as_device.db(school_db_name(school)).put(on_time_offline)
    zero = report(school, days_ago(2), device=name, author="t2", fever_at_check=0, isolated_on_campus=0,
                  zero_report=True)
    zero["meta"]["submitted_at"] = f"{days_ago(2)}T05:00:00.000Z"
    as_device.db(school_db_name(school)).put(zero)

    metrics = run_until_idle(world.couch, world.settings())

    docs = world.canonicals()
    first = docs[f"daily_health:{school}:{late_date}"]
    assert first["type"] == "canonical_report" and first["schema_version"] == 2
    assert (first["county_id"], first["prefecture_id"], first["school_id"]) == ("c-test", "p-test", school)
    assert first["author"] == "t1" and first["device"] == name and first["flags"] == []
    vector = dict(zip(METRIC_FIELDS, first["metrics"], strict=True))
    assert vector["reports"] == 1 and vector["zero_reports"] == 0
    assert vector["on_time_device"] == 1 and vector["on_time_server"] == 0
    assert vector["students_present"] == 114 and vector["absent_fever"] == 1 and vector["staff_fever"] == 0
    times = first["timeliness"]
    assert times["deadline"] == f"{late_date}T02:00:00.000Z"
    assert times["submitted_corrected"] == f"{late_date}T01:01:00.000Z"
    assert times["on_time_device"] is True and times["on_time_server"] is False
    assert first["received_at"] == times["received_at"] == first["first_seen"][first["source"]["rev"]]
    assert first["source"]["db"] == school_db_name(school)
    second = docs[f"daily_health:{school}:{days_ago(2)}"]
    assert dict(zip(METRIC_FIELDS, second["metrics"], strict=True))["zero_reports"] == 1
    assert second["timeliness"]["on_time_device"] is False
    assert metrics.counters["written"] == 2 and metrics.counters["quarantined"] == 0


def test_v1_is_migrated_invalid_is_quarantined_and_the_batch_goes_on(world):
    school = world.add_school()
    db = world.db(school)
    old = examples.daily_health_v1()
    old.update(_id=f"report:daily_health:{days_ago(1)}", date=days_ago(1), school_id=school)
    db.put(old)
    bad = report(school, days_ago(2), students_present=500)  # more present than enrolled
    put_branch(db, bad, "1-badbadbad", [])  # as an old device's replicated doc: no validation
    newer = report(school, days_ago(3))
    newer["schema_version"] = 9  # a newer app than this server knows
    put_branch(db, newer, "1-newnewnew", [])
    db.put(report(school, days_ago(4)))

    run_until_idle(world.couch, world.settings())

    docs = world.canonicals()
    migrated = docs[f"daily_health:{school}:{days_ago(1)}"]
    assert migrated["schema_version"] == 2 and migrated["data"]["absent_other"] == 6
    assert "absent" not in migrated["data"]
    assert f"daily_health:{school}:{days_ago(4)}" in docs
    assert f"daily_health:{school}:{days_ago(2)}" not in docs
    quarantined = {q["doc_id"]: q for q in world.ops_docs("quarantine")}
    assert set(quarantined) == {f"report:daily_health:{days_ago(2)}", f"report:daily_health:{days_ago(3)}"}
    q = quarantined[f"report:daily_health:{days_ago(2)}"]
    assert q["status"] == "open" and q["rev"] == "1-badbadbad" and q["body"]["data"]["students_present"] == 500
    assert q["school_id"] == school and q["county_id"] == "c-test"
    assert {r["code"] for r in q["reasons"]} == {"present_gt_enrolled", "absences_mismatch"} or q["reasons"]
    assert all(set(r["message"]) == {"en", "zh"} for r in q["reasons"])
    assert quarantined[f"report:daily_health:{days_ago(3)}"]["reasons"][0]["code"] == "unknown_version"


def test_checkpoint_resumes_and_canonicals_are_written_once(world):
    school = world.add_school()
    db = world.db(school)
    for n in range(1, 4):
        db.put(report(school, days_ago(n)))
    run_until_idle(world.couch, world.settings(batch_size=2))
    for n in range(4, 6):
        db.put(report(school, days_ago(n)))
    run_until_idle(world.couch, world.settings(batch_size=2))
    run_until_idle(world.couch, world.settings(batch_size=2))  # nothing new: nothing written
    docs = world.canonicals()
    assert len(docs) == 5
    assert all(doc["_rev"].startswith("1-") for doc in docs.values())
    # The checkpoint covers every change (judged as the worker judges it: a cluster's
    # update_seq is not one stable string, so it is not compared here either).
    assert Checkpointer(world.couch).stored(db.name)["since"]
    assert Checkpointer(world.couch).behind(db.name) is False
    db.put(report(school, days_ago(6)))
    deadline = time.monotonic() + 30  # on a cluster the copy read may take a moment to have it
    while not Checkpointer(world.couch).behind(db.name):
        assert time.monotonic() < deadline, "a new report did not put the database behind its checkpoint"
        time.sleep(0.1)


def test_an_edit_rewrites_the_canonical_and_keeps_first_seen(world):
    school = world.add_school()
    db = world.db(school)
    doc = report(school, days_ago(1))
    db.put(doc)
    run_until_idle(world.couch, world.settings())
    first = world.canonicals()[f"daily_health:{school}:{days_ago(1)}"]
    doc["data"]["notes"] = "corrected"
    db.put(doc)
    run_until_idle(world.couch, world.settings())
    second = world.canonicals()[f"daily_health:{school}:{days_ago(1)}"]
    assert second["data"]["notes"] == "corrected" and second["source"]["rev"] == doc["_rev"]
    assert second["received_at"] == first["received_at"]
    assert set(second["first_seen"]) == {first["source"]["rev"], doc["_rev"]}


def test_author_not_on_roster_is_counted_flagged_and_reviewed(world):
    school = world.add_school(roster=("t1",))
    world.db(school).put(report(school, days_ago(1), author="stranger"))
    run_until_idle(world.couch, world.settings())
    canonical = world.canonicals()[f"daily_health:{school}:{days_ago(1)}"]
    assert canonical["flags"] == ["author_not_on_roster"] and canonical["metrics"][0] == 1
    reviews = world.ops_docs("review_item")
    assert [(r["reason"], r["author"], r["status"]) for r in reviews] == [("roster", "stranger", "open")]


def test_an_officers_correction_written_by_the_service_is_not_a_roster_problem(world):
    school = world.add_school(roster=("t1",))
    doc = report(school, days_ago(1), author="officer_c1", device="service")
    world.db(school).put(doc)
    run_until_idle(world.couch, world.settings())
    [canonical] = world.canonicals().values()
    assert canonical["flags"] == []
    assert not [r for r in world.ops_docs("review_item") if r["reason"] == "roster"]


def test_a_school_missing_from_the_registry_is_quarantined_after_retries(world):
    good = world.add_school()
    orphan = world.add_school(registered=False)
    world.db(good).put(report(good, days_ago(1)))
    world.db(orphan).put(report(orphan, days_ago(1)))
    metrics = run_until_idle(world.couch, world.settings(max_attempts=3))
    assert f"daily_health:{good}:{days_ago(1)}" in world.canonicals()
    assert f"daily_health:{orphan}:{days_ago(1)}" not in world.canonicals()
    [q] = world.ops_docs("quarantine")
    assert q["db"] == school_db_name(orphan) and q["attempts"] == 3
    assert q["reasons"][0]["code"] == "processing_error" and "school:" in q["reasons"][0]["message"]["en"]
    assert metrics.counters["retries"] >= 2 and metrics.counters["quarantined"] == 1


def test_deleting_a_submitted_report_keeps_the_canonical_and_opens_a_review(world, device):
    school = world.add_school()
    name, as_device = device(school)
    db = as_device.db(school_db_name(school))
    doc = report(school, days_ago(1), device=name)
    db.put(doc)
    run_until_idle(world.couch, world.settings())
    with pytest.raises(Forbidden):  # a device deletes nothing (validate_doc_update)
        db.delete(doc["_id"], doc["_rev"])
    # A deletion that still arrives (an admin's without an audit record, or one stored before
    # the database refused them) leaves the county's figure in place for review.
    world.db(school).delete(doc["_id"], doc["_rev"])
    run_until_idle(world.couch, world.settings())
    canonical = world.canonicals()[f"daily_health:{school}:{days_ago(1)}"]
    assert canonical["flags"] == ["source_deleted"] and canonical["metrics"][0] == 1
    [review] = world.ops_docs("review_item")
    assert review["reason"] == "history" and review["issues"][0]["code"] == "deleted_submitted"
    assert review["doc"]["_deleted"] is True and review["previous"]["data"]["students_present"] == 114


def test_worker_status_is_published(world):
    school = world.add_school()
    world.db(school).put(report(school, days_ago(1)))
    worker = Worker(world.couch, world.settings(shard_index=1, shard_count=1))
    assert worker.run(once=True) == 0
    status = world.couch.db(OPS_DB).get("worker_status:1-of-1")
    assert status["type"] == "worker_status" and status["feed"] in ("_db_updates", "poll")
    assert set(status["counters"]) >= {"processed", "written", "conflicts_soft", "conflicts_hard", "quarantined",
                                       "retries", "errors"}
    # A caught-up database leaves no backlog behind; nothing is pending after a full run.
    assert school_db_name(school) not in status["lag"]
    assert status["progress"]["dbs_pending"] == 0 and status["progress"]["docs_pending"] == 0
    assert world.couch.db(REPORTS_DB).get(f"daily_health:{school}:{days_ago(1)}")


def test_incidents_get_their_own_canonical(world):
    school = world.add_school()
    incident = copy.deepcopy(examples.incident())
    incident.update(_id=f"incident:{days_ago(1)}:abcdefgh12", date=days_ago(1), school_id=school)
    incident["meta"]["author"] = "t1"
    incident["data"]["onset_date"] = days_ago(2)
    world.db(school).put(incident)
    run_until_idle(world.couch, world.settings())
    canonical = world.canonicals()[f"incident:{school}:{days_ago(1)}:abcdefgh12"]
    assert canonical["form"] == "incident" and canonical["metrics"] is None
    assert canonical["data"]["status"] == "isolated"


def test_settings_from_env():
    from sync import WorkerSettings

    settings = WorkerSettings.from_env({"COUCHDB_URL": "http://a:b@127.0.0.1:1", "WORKER_SHARD": "2/3",
                                        "LOCAL_UTC_OFFSET_MINUTES": "420"})
    assert (settings.shard_index, settings.shard_count, settings.shard_name) == (2, 3, "2-of-3")
    assert settings.utc_offset_minutes == 420 and settings.batch_size == 200 and settings.metrics_port is None
    assert settings.deadline_local == "10:00" and settings.max_attempts == 3 and settings.poll_interval_s == 2
    for bad in ({}, {"COUCHDB_URL": "x", "WORKER_SHARD": "4/3"}):
        try:
            WorkerSettings.from_env(bad)
        except (KeyError, ValueError):
            continue
        raise AssertionError(f"accepted {bad}")
