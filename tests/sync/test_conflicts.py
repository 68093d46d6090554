"""Conflicts made with ``new_edits=false`` branches on a real server, then resolved."""

from __future__ import annotations

from mobile_schema import hlc_format
from sync import ConflictResolver, run_until_idle
from sync.merge import RESOLVED_BY
from sync.provision import school_db_name
from tests.sync import test_worker_support as support
from tests.sync.test_worker_support import days_ago, put_branch, report

world = support.world  # fixture


def clock(ms: int, device: str) -> str:
    return hlc_format(1_795_000_000_000 + ms, 0, device)


def edited(doc: dict, device: str, ms: int, base_ms: int | None = None, **data) -> dict:
    """``doc`` with ``data`` changed on ``device`` at ``ms``, each edit on top of ``base_ms``."""
    out = {**doc, "data": {**doc["data"], **data}, "meta": {**doc["meta"], "device": device,
                                                            "clocks": dict(doc["meta"]["clocks"])}}
    for name in data:
        out["meta"]["clocks"][name] = {"at": clock(ms, device),
                                       "base": clock(base_ms, "devA") if base_ms is not None else None}
    return out


def leaves(db, doc_id):
    return db.open_revs(doc_id, "all")


def live(db, doc_id):
    return [leaf for leaf in leaves(db, doc_id) if not leaf.get("_deleted")]


def resolutions(world, doc_id):
    return [d for d in world.ops_docs("conflict_resolution") if d["doc_id"] == doc_id]


def _base_and_branches(world, school, a_changes, b_changes, *, keep_ancestor=True):
    db = world.db(school)
    base = report(school, days_ago(1))
    put_branch(db, base, "1-aaaa", []) if keep_ancestor else None
    history = ["1-aaaa"]
    a = edited(base, "devA", 10, **a_changes) if a_changes else base
    b = edited(base, "devB", 20, **b_changes) if b_changes else base
    put_branch(db, a, "2-a1a1", history)
    put_branch(db, b, "2-b2b2", history)
    return db, base["_id"]


def test_different_fields_are_merged_without_review(world):
    school = world.add_school()
    db, doc_id = _base_and_branches(world, school, {"notes": "from A"}, {"disinfection_done": False})
    assert db.get(doc_id, conflicts=True).get("_conflicts")
    run_until_idle(world.couch, world.settings())
    [current] = live(db, doc_id)
    assert current["data"]["notes"] == "from A" and current["data"]["disinfection_done"] is False
    assert not db.get(doc_id, conflicts=True).get("_conflicts")
    [record] = resolutions(world, doc_id)
    assert record["status"] == "written" and record["kind"] == "soft" and record["ancestor_rev"] == "1-aaaa"
    assert record["strategy"]["notes"] == "one_side" and record["ancestor"]["data"]["notes"] == ""
    assert {leaf["rev"] for leaf in record["leaves"]} == {"2-a1a1", "2-b2b2"}
    assert not world.ops_docs("review_item")
    canonical = world.canonicals()[f"daily_health:{school}:{days_ago(1)}"]
    assert canonical["data"]["notes"] == "from A" and canonical["source"]["rev"] == current["_rev"]
    # merged meta.clocks: per field the clock of the chosen value
    assert current["meta"]["clocks"]["notes"]["at"] == clock(10, "devA")
    assert current["meta"]["clocks"]["disinfection_done"]["at"] == clock(20, "devB")
    notice = db.get(f"conflict_notice:{record['_id'].split(':', 1)[1]}")
    assert notice["kind"] == "soft" and notice["fields"] == [] and set(notice["message"]) == {"en", "zh"}


def test_same_field_follows_the_rule_and_opens_a_review_with_both_values(world):
    school = world.add_school()
    db, doc_id = _base_and_branches(world, school, {"notes": "A says"}, {"notes": "B says"})
    run_until_idle(world.couch, world.settings())
    [current] = live(db, doc_id)
    assert current["data"]["notes"] == "B says"  # latest edit clock wins
    [record] = resolutions(world, doc_id)
    assert record["kind"] == "hard" and record["strategy"]["notes"] == "latest"
    [review] = world.ops_docs("review_item")
    assert review["reason"] == "hard_conflict" and review["status"] == "open"
    [notes] = [f for f in review["fields"] if f["field"] == "notes"]
    assert notes["chosen"] == "B says"
    assert {(c["value"], c["device"]) for c in notes["candidates"]} == {("A says", "devA"), ("B says", "devB")}
    notice = db.get(f"conflict_notice:{record['_id'].split(':', 1)[1]}")
    assert notice["fields"][0]["kept"] == "B says"
    assert notice["fields"][0]["overridden"][0]["value"] == "A says"


def test_max_rule_on_a_hard_conflict(world):
    school = world.add_school()
    db, doc_id = _base_and_branches(world, school, {"returned_from_affected_areas": 9},
                                    {"returned_from_affected_areas": 5})
    run_until_idle(world.couch, world.settings())
    [current] = live(db, doc_id)
    assert current["data"]["returned_from_affected_areas"] == 9
    assert resolutions(world, doc_id)[0]["strategy"]["returned_from_affected_areas"] == "max"


def test_edit_on_one_branch_and_delete_on_another_keeps_the_edit(world):
    school = world.add_school()
    db = world.db(school)
    base = report(school, days_ago(1))
    put_branch(db, base, "1-aaaa", [])
    put_branch(db, edited(base, "devA", 10, notes="still here"), "2-a1a1", ["1-aaaa"])
    put_branch(db, {"_id": base["_id"], "_deleted": True}, "2-d0d0", ["1-aaaa"])
    run_until_idle(world.couch, world.settings())
    [current] = live(db, base["_id"])
    assert current["data"]["notes"] == "still here"
    [record] = resolutions(world, base["_id"])
    assert record["deleted_revs"] == ["2-d0d0"] and record["status"] == "written"
    marked = [leaf for leaf in leaves(db, base["_id"]) if leaf.get(RESOLVED_BY)]
    assert marked and all(leaf["_deleted"] for leaf in marked)
    assert world.canonicals()[f"daily_health:{school}:{days_ago(1)}"]["flags"] == []


def test_three_branches_merge_in_one_resolution(world):
    school = world.add_school()
    db = world.db(school)
    base = report(school, days_ago(1))
    put_branch(db, base, "1-aaaa", [])
    put_branch(db, edited(base, "devA", 10, notes="A"), "2-a1a1", ["1-aaaa"])
    put_branch(db, edited(base, "devB", 20, disinfection_done=False), "2-b2b2", ["1-aaaa"])
    put_branch(db, edited(base, "devC", 30, returned_from_affected_areas=7), "2-c3c3", ["1-aaaa"])
    run_until_idle(world.couch, world.settings())
    [current] = live(db, base["_id"])
    assert (current["data"]["notes"], current["data"]["disinfection_done"],
            current["data"]["returned_from_affected_areas"]) == ("A", False, 7)
    [record] = resolutions(world, base["_id"])
    assert len(record["leaves"]) == 3 and record["kind"] == "soft"
    # the merged revision went on CouchDB's winning branch
    assert record["winner_rev"] == "2-c3c3" and current["_rev"].startswith("3-")


def test_without_an_ancestor_the_clocks_decide_and_the_record_says_two_way(world):
    school = world.add_school()
    db = world.db(school)
    base = report(school, days_ago(1))
    # Two devices created the day's report independently: no shared history at all.
    a = edited(base, "devA", 10, notes="A")
    b = edited(base, "devB", 20, notes="B")
    # B's staff count is an edit on top of A's: not a conflict.
    a = edited(a, "devA", 5, staff_present=10)
    b = edited(b, "devB", 25, base_ms=5, staff_present=9)
    b["meta"]["clocks"]["staff_present"]["base"] = a["meta"]["clocks"]["staff_present"]["at"]
    put_branch(db, a, "1-a1a1", [])
    put_branch(db, b, "1-b2b2", [])
    run_until_idle(world.couch, world.settings())
    [current] = live(db, base["_id"])
    [record] = resolutions(world, base["_id"])
    assert record["kind"] == "two_way" and record["ancestor"] is None
    assert current["data"]["staff_present"] == 9 and record["strategy"]["staff_present"] == "clock"
    assert current["data"]["notes"] == "B" and record["strategy"]["notes"] == "latest"
    [review] = world.ops_docs("review_item")
    assert [f["field"] for f in review["fields"]] == ["notes"]


def test_an_invalid_merge_goes_to_review_and_nothing_is_written(world):
    school = world.add_school()
    db = world.db(school)
    base = report(school, days_ago(1))
    put_branch(db, base, "1-aaaa", [])
    # Each branch is valid; together they say fever at check > students present.
    a = edited(base, "devA", 10, fever_at_check=100)
    a = edited(a, "devA", 10, zero_report=False)
    b = edited(base, "devB", 20, students_present=60, absent_other=56)
    put_branch(db, a, "2-a1a1", ["1-aaaa"])
    put_branch(db, b, "2-b2b2", ["1-aaaa"])
    run_until_idle(world.couch, world.settings())
    assert len(live(db, base["_id"])) == 2  # left for a person
    [record] = resolutions(world, base["_id"])
    assert record["status"] == "invalid"
    [review] = world.ops_docs("review_item")
    assert review["reason"] == "invalid_merge" and review["issues"][0]["code"] == "fever_gt_present"
    # the report is still counted, from CouchDB's winner
    assert f"daily_health:{school}:{days_ago(1)}" in world.canonicals()


def test_every_conflict_gets_exactly_one_resolution_even_when_run_again(world):
    school = world.add_school()
    db, doc_id = _base_and_branches(world, school, {"notes": "A"}, {"notes": "B"})
    resolver = ConflictResolver(world.couch)
    leaves_before = leaves(db, doc_id)
    first = resolver.resolve(school_db_name(school), doc_id, school_id=school, county_id="c-test")
    assert first.status == "written"
    # a crash after the _bulk_docs: the record is pending again; the next run finishes it
    ops = world.couch.db("ops")
    record = ops.get(first.resolution_id)
    record["status"] = "pending"
    ops.put(record)
    again = resolver.resolve(school_db_name(school), doc_id, school_id=school, county_id="c-test")
    assert again.status == "none"
    assert ops.get(first.resolution_id)["status"] == "written"
    run_until_idle(world.couch, world.settings())
    assert len(resolutions(world, doc_id)) == 1
    assert len(world.ops_docs("review_item")) == 1
    assert {leaf["_rev"] for leaf in leaves_before} <= {r["rev"] for r in ops.get(first.resolution_id)["leaves"]}
