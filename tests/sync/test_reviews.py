"""An officer's decision on a review item, written back through the service account."""

from __future__ import annotations

import pytest

from sync import ReviewError, apply_review_decision, run_until_idle
from tests.sync import test_worker_support as support
from tests.sync.test_conflicts import _base_and_branches, live
from tests.sync.test_worker_support import days_ago

world = support.world  # fixture


def test_decision_is_written_with_the_officer_as_author_and_audited(world):
    school = world.add_school()
    db, doc_id = _base_and_branches(world, school, {"notes": "A says"}, {"notes": "B says"})
    run_until_idle(world.couch, world.settings())
    [review] = world.ops_docs("review_item")
    resolved = apply_review_decision(world.couch, review["_id"], values={"notes": "A says"}, officer="officer_1")
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "officer_1" and resolved["resolved_at"]
    [current] = live(db, doc_id)
    assert current["data"]["notes"] == "A says" and current["meta"]["author"] == "officer_1"
    clock = current["meta"]["clocks"]["notes"]
    assert clock["at"].endswith(":service") and clock["base"] and clock["at"] > clock["base"]
    audits = [d for d in world.ops_docs("audit") if d["review_id"] == review["_id"]]
    assert len(audits) == 1 and audits[0]["officer"] == "officer_1" and audits[0]["values"] == {"notes": "A says"}
    with pytest.raises(ReviewError):
        apply_review_decision(world.couch, review["_id"], values={"notes": "again"}, officer="officer_1")
    run_until_idle(world.couch, world.settings())
    assert world.canonicals()[f"daily_health:{school}:{days_ago(1)}"]["data"]["notes"] == "A says"


def test_a_decision_that_would_be_invalid_is_refused(world):
    school = world.add_school()
    _base_and_branches(world, school, {"notes": "A"}, {"notes": "B"})
    run_until_idle(world.couch, world.settings())
    [review] = world.ops_docs("review_item")
    with pytest.raises(ReviewError, match="students_present"):
        apply_review_decision(world.couch, review["_id"], values={"students_present": 10_000}, officer="o")
    with pytest.raises(ReviewError, match="unknown"):
        apply_review_decision(world.couch, review["_id"], values={"nonsense": 1}, officer="o")
    assert world.couch.db("ops").get(review["_id"])["status"] == "open"
