"""A county officer works the review queue through the API: a hard conflict made the way
devices make it is listed, decided, written back to the school database and audited;
a refused document shows up in the quarantine."""

from __future__ import annotations

import base64

import pytest

from sync import run_until_idle
from tests.sync import test_worker_support as support
from tests.sync.test_conflicts import _base_and_branches, live
from tests.sync.test_worker_support import COUNTY, days_ago, report

world = support.world  # fixture


@pytest.fixture
def officer(couch, run_id):
    name = f"officer_rv{run_id}"
    couch.put_user(name, password="pw", roles=[f"county:{COUNTY}"])
    other = f"other_rv{run_id}"
    couch.put_user(other, password="pw", roles=["county:elsewhere"])
    yield ({"Authorization": "Basic " + base64.b64encode(f"{name}:pw".encode()).decode()},
           {"Authorization": "Basic " + base64.b64encode(f"{other}:pw".encode()).decode()}, name)
    couch.delete_user(name)
    couch.delete_user(other)


def test_officer_decides_a_hard_conflict_and_it_reaches_the_school(client, world, officer):
    headers, other_headers, officer_name = officer
    school = world.add_school()
    db, doc_id = _base_and_branches(world, school, {"notes": "A says"}, {"notes": "B says"})
    run_until_idle(world.couch, world.settings())

    listed = client.get(f"/api/v1/reviews?county={COUNTY}", headers=headers)
    assert listed.status_code == 200
    # other tests of this session leave reviews of the same doc id in other schools' databases
    [review] = [item for item in listed.get_json()["items"] if item["doc_id"] == doc_id and item["db"] == db.name]
    assert review["reason"] == "hard_conflict"
    assert client.get(f"/api/v1/reviews/{review['_id']}", headers=other_headers).status_code == 403

    decided = client.post(f"/api/v1/reviews/{review['_id']}", json={"values": {"notes": "A says"}}, headers=headers)
    assert decided.status_code == 200, decided.get_json()
    assert decided.get_json()["status"] == "resolved"
    [current] = live(db, doc_id)
    assert current["data"]["notes"] == "A says" and current["meta"]["author"] == officer_name
    again = client.post(f"/api/v1/reviews/{review['_id']}", json={"values": {}}, headers=headers)
    assert again.status_code == 409  # already decided

    audits = [d for d in world.couch.db("ops").all_docs(include_docs=True, startkey="audit:",
                                                        endkey="audit:\ufff0")["rows"]
              if d["doc"].get("review_id") == review["_id"]]
    assert len(audits) == 1 and audits[0]["doc"]["who"] == officer_name

    # the officer's decision is processed like any write, without a roster review
    run_until_idle(world.couch, world.settings())
    canonical = world.canonicals()[f"daily_health:{school}:{days_ago(1)}"]
    assert canonical["data"]["notes"] == "A says" and "author_not_on_roster" not in canonical["flags"]


def test_quarantined_documents_are_listed_with_reasons(client, world, officer):
    headers, other_headers, _name = officer
    school = world.add_school()
    bad = report(school, days_ago(2), students_present=999)  # more present than enrolled
    world.db(school).bulk_docs([dict(bad, _rev="1-bad0")], new_edits=False)  # as an old device replicates it
    run_until_idle(world.couch, world.settings())
    answer = client.get(f"/api/v1/quarantine?county={COUNTY}", headers=headers)
    assert answer.status_code == 200
    [item] = [i for i in answer.get_json()["items"] if i["doc_id"] == bad["_id"] and i["school_id"] == school]
    assert item["body"]["data"]["students_present"] == 999
    assert client.get(f"/api/v1/quarantine?county={COUNTY}", headers=other_headers).status_code == 403
