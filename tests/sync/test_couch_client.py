"""The CouchDB access layer against a real server."""

from __future__ import annotations

import httpx
import pytest

from sync.couch import CouchClient, encode_params
from sync.errors import Conflict, CouchUnavailable, Forbidden, NotFound, Unauthorized


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"include_docs": True, "conflicts": False}, {"include_docs": "true", "conflicts": "false"}),
        ({"key": "b"}, {"key": '"b"'}),
        ({"startkey": ["c1", "2026-01-01"], "endkey": ["c1", {}]}, {"startkey": '["c1","2026-01-01"]',
                                                                    "endkey": '["c1",{}]'}),
        ({"open_revs": "all"}, {"open_revs": "all"}),
        ({"limit": 5, "since": None}, {"limit": "5"}),
    ],
)
def test_params_are_encoded_the_way_couchdb_3_reads_them(params, expected):
    assert encode_params(params) == expected


@pytest.mark.parametrize("params", [{"include_docs": "true"}, {"conflicts": 1}, {"limit": True}])
def test_ambiguous_params_are_refused_before_sending(params):
    with pytest.raises(TypeError):
        encode_params(params)


def test_every_request_sends_json_headers(couch_url, make_db):
    seen = []
    client = CouchClient(couch_url)
    client._http.event_hooks["request"].append(seen.append)
    db = client.db(make_db().name)
    db.put({"_id": "a"})
    db.all_docs(include_docs=True, keys=["a"])
    assert seen and all(r.headers["accept"] == "application/json" for r in seen)
    assert all(r.headers["content-type"] == "application/json" for r in seen if r.content)
    client.close()


def test_documents_round_trip_with_awkward_ids(couch, make_db):
    db = make_db()
    doc = {"_id": "report:daily_health:2026-03-02/a?b&c#d", "n": 1}
    db.put(doc)
    assert db.get(doc["_id"])["n"] == 1
    with pytest.raises(Conflict):
        db.put({"_id": doc["_id"], "n": 2})
    with pytest.raises(NotFound):
        db.get("nope")


def test_bulk_results_are_matched_by_id(couch, make_db):
    db = make_db()
    db.put({"_id": "b"})
    results = db.bulk_docs([{"_id": "a"}, {"_id": "b"}, {"_id": "c"}])
    assert [r.id for r in results] == ["a", "b", "c"]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "conflict"


def test_new_edits_false_makes_conflicting_branches_and_open_revs_reads_every_leaf(couch, make_db):
    db = make_db()
    db.bulk_docs([
        {"_id": "d", "_rev": "1-aaa", "v": 0},
        {"_id": "d", "_rev": "2-bbb", "v": 1, "_revisions": {"start": 2, "ids": ["bbb", "aaa"]}},
        {"_id": "d", "_rev": "2-ccc", "v": 2, "_revisions": {"start": 2, "ids": ["ccc", "aaa"]}},
    ], new_edits=False)
    leaves = db.open_revs("d")
    assert sorted(leaf["v"] for leaf in leaves) == [1, 2]
    assert all(leaf["_revisions"]["ids"][-1] == "aaa" for leaf in leaves)
    changes = db.changes(conflicts=True, include_docs=True)
    assert changes["results"][0]["doc"]["_conflicts"]


def test_views_with_builtin_reducers(couch, make_db):
    db = make_db()
    db.put({"_id": "_design/t", "views": {"by_k": {"map": "function (doc) { emit([doc.k, doc.d], doc.n); }",
                                                   "reduce": "_sum"}}})
    db.bulk_docs([{"_id": str(i), "k": "x" if i % 2 else "y", "d": i, "n": i} for i in range(10)])
    total = db.view("t", "by_k", startkey=["x"], endkey=["x", {}])
    assert total["rows"][0]["value"] == 1 + 3 + 5 + 7 + 9
    grouped = db.view("t", "by_k", group_level=1)
    assert {r["key"][0]: r["value"] for r in grouped["rows"]} == {"x": 25, "y": 20}
    rows = db.view("t", "by_k", reduce=False, keys=[["y", 4]])["rows"]
    assert [r["value"] for r in rows] == [4]


def test_changes_longpoll_returns_when_idle(couch, make_db):
    db = make_db()
    db.put({"_id": "x"})
    first = db.changes()
    idle = db.changes(since=first["last_seq"], feed="longpoll", timeout_s=1)
    assert idle["results"] == []


def test_security_users_and_session(couch, make_db, run_id):
    db = make_db()
    db.put_security({"admins": {"names": [], "roles": []}, "members": {"names": [], "roles": [f"school:{run_id}"]}})
    assert db.get_security()["members"]["roles"] == [f"school:{run_id}"]
    insider, outsider = f"in_{run_id}", f"out_{run_id}"
    couch.put_user(insider, password="pw-in", roles=[f"school:{run_id}"])
    couch.put_user(outsider, password="pw-out", roles=["school:other"])
    try:
        assert couch.session(insider, "pw-in")["roles"] == [f"school:{run_id}"]
        with pytest.raises(Unauthorized):
            couch.session(insider, "wrong")
        base = couch.base_url.replace("http://", "")
        with CouchClient(f"http://{insider}:pw-in@{base}") as as_insider:
            as_insider.db(db.name).put({"_id": "ok"})
        with CouchClient(f"http://{outsider}:pw-out@{base}") as as_outsider:
            with pytest.raises((Forbidden, Unauthorized)):
                as_outsider.db(db.name).get("ok")
    finally:
        couch.delete_user(insider)
        couch.delete_user(outsider)


def test_local_docs_are_not_in_changes(couch, make_db):
    db = make_db()
    db.put_local("checkpoint", {"seq": 5})
    db.put_local("checkpoint", {"seq": 6})
    assert db.get_local("checkpoint")["seq"] == 6
    assert db.changes()["results"] == []


def test_capability_detection_and_fallbacks(couch):
    vendor = (couch.info().get("vendor") or {}).get("name", "")
    if "PouchDB" in vendor:  # pouchdb-server lacks these: the callers must fall back
        assert couch.has("_db_updates") is False
        assert couch.scheduler_docs() is None
        assert couch.has("node_config") is False
    else:  # Apache CouchDB 3 has them all
        assert couch.has("_db_updates") is True
        assert isinstance(couch.scheduler_docs(), list)
    # the node config is read through whichever path the server has (a key the server sets
    # itself: CouchDB 3 leaves max_document_size at its built-in default, unlisted)
    assert couch.config_get("couchdb", "database_dir") is not None
    assert couch.config_get("couchdb", "no_such_key_here") is None


def test_unreachable_server_is_a_translated_error():
    with CouchClient("http://127.0.0.1:9", timeout=1) as client, pytest.raises(CouchUnavailable) as info:
        client.info()
    assert isinstance(info.value.__cause__, httpx.TransportError)
