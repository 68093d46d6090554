"""Reports stored before a bound existed (issue 12, item 16) stay readable: the worker
quarantines them with the bilingual reason instead of failing, and a valid revision on top
(a teacher's fix from the app) is taken as usual."""

from __future__ import annotations

from sync import run_until_idle
from tests.sync import test_worker_support as support
from tests.sync.test_worker_support import days_ago, put_branch, report

world = support.world  # fixture


def test_an_impossible_stored_report_is_quarantined_then_fixed(world):
    school = world.add_school()
    db = world.db(school)
    impossible = report(
        school,
        days_ago(1),
        students_enrolled=300,
        students_present=290,
        absent_illness=4,
        absent_fever=3,
        absent_other=3,
        isolated_on_campus=400,
    )
    put_branch(db, impossible, "1-0ld0ld", [])  # as the old validate_doc_update let it in
    run_until_idle(world.couch, world.settings())
    canonical_id = f"daily_health:{school}:{days_ago(1)}"
    assert canonical_id not in world.canonicals()  # no 137.93 % isolation rate
    [quarantined] = world.ops_docs("quarantine")
    [reason] = quarantined["reasons"]
    assert reason["code"] == "isolated_gt_present" and reason["field"] == "data.isolated_on_campus"
    assert reason["message"]["zh"] == "校内隔离人数(400)超过到校学生数(290)"

    fixed = dict(impossible, _rev="1-0ld0ld", data=dict(impossible["data"], isolated_on_campus=4))
    db.put(fixed)
    run_until_idle(world.couch, world.settings())
    assert world.canonicals()[canonical_id]["data"]["isolated_on_campus"] == 4
