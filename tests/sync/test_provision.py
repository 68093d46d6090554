"""Provisioning against a real server: idempotent, secure, validating."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest

from mobile_schema import examples, format_forbidden, validate_document
from sync.design import REPORTS_DESIGN
from sync.errors import Forbidden, Unauthorized
from sync.provision import (
    ADMIN_ONLY_SECURITY,
    SCHOOL_DB_Q,
    ProvisionReport,
    SharedDatabase,
    ensure_db,
    provision_school,
    school_db_name,
    school_security,
)
from tests.sync import test_worker_support as support


@pytest.fixture
def school(couch, run_id):
    school_id = f"s{run_id}"
    yield school_id
    couch.db(school_db_name(school_id)).delete_database()


device_of = support.device  # fixture: device(school_id) -> (account name, client as that device)


def test_school_provisioning_is_idempotent_and_sets_security(couch, school):
    first = provision_school(couch, school)
    assert first.created_dbs == [school_db_name(school)]
    db = couch.db(school_db_name(school))
    assert db.get_security() == school_security(school)
    assert db.get("_design/school")["validate_doc_update"].startswith("function")
    second = provision_school(couch, school)
    assert not second.changed
    # A changed design document is upgraded in place.
    design = db.get("_design/school")
    design["views"]["window"]["map"] = "function (doc) {}"
    db.put(design)
    third = provision_school(couch, school)
    assert third.design_updated == [f"{db.name}/_design/school"]


def test_a_second_school_id_that_maps_to_the_same_database_does_not_take_it_over(couch, school):
    # "S1" and "s1" are one database name; a registry imported before the import refused such
    # pairs may hold both. Provisioning the second must not hand it the first one's database.
    provision_school(couch, school)
    twin = school.upper()
    assert school_db_name(twin) == school_db_name(school)
    with pytest.raises(SharedDatabase, match=school):
        provision_school(couch, twin)
    assert couch.db(school_db_name(school)).get_security() == school_security(school)
    assert provision_school(couch, school).changed is False  # its own school still provisions


def test_core_databases_get_admin_only_security(couch, make_db):
    db = make_db("reports")
    report = ProvisionReport()
    ensure_db(db, ADMIN_ONLY_SECURITY, [REPORTS_DESIGN], report)
    assert db.get_security() == ADMIN_ONLY_SECURITY
    assert report.security_set == [db.name]


def test_device_writes_its_school_report_and_is_refused_another_schools(couch, school, device_of, run_id):
    provision_school(couch, school)
    other = f"o{run_id}"
    provision_school(couch, other)
    try:
        device, as_device = device_of(school)
        doc = examples.daily_health()
        doc["school_id"] = school
        doc["meta"]["device"] = device
        assert validate_document(doc, school_id=school, device=device) == []
        as_device.db(school_db_name(school)).put(copy.deepcopy(doc))
        # Another day's report (a new id): CouchDB checks conflicts before validation, and
        # on a cluster an update right after a write may meet a copy still behind (409).
        foreign = examples.daily_health(date=(date.fromisoformat(doc["date"]) - timedelta(days=1)).isoformat())
        foreign["meta"]["device"] = device
        foreign["school_id"] = other
        with pytest.raises(Forbidden) as refused:
            as_device.db(school_db_name(school)).put(foreign)
        expected = validate_document(foreign, school_id=school, device=device)
        assert refused.value.reason == format_forbidden(expected)
        # and the other school's database is closed to this device altogether
        with pytest.raises((Forbidden, Unauthorized)):
            as_device.db(school_db_name(other)).get("config:device")
    finally:
        couch.db(school_db_name(other)).delete_database()


def test_forged_device_is_refused(couch, school, device_of):
    provision_school(couch, school)
    device, as_device = device_of(school)
    doc = examples.daily_health()
    doc["school_id"] = school
    doc["meta"]["device"] = "device_someone_else"
    with pytest.raises(Forbidden) as refused:
        as_device.db(school_db_name(school)).put(doc)
    assert "device" in refused.value.reason


def test_replicated_branches_survive_validation(couch, school):
    """pouchdb-server 4.2.0's validation replaced a replicated doc's ancestry and dropped it
    silently (patches/pouchdb-validation+4.2.0.patch); CouchDB keeps both branches."""
    provision_school(couch, school)
    db = couch.db(school_db_name(school))
    base = dict(examples.daily_health(), school_id=school, _rev="1-aaa")
    db.bulk_docs([base], new_edits=False)
    for rev_id, present in (("bbb", 110), ("ccc", 111)):
        branch = copy.deepcopy(base)
        branch["data"].update(students_present=present, absent_other=present - 108)
        branch.update(_rev=f"2-{rev_id}", _revisions={"start": 2, "ids": [rev_id, "aaa"]})
        db.bulk_docs([branch], new_edits=False)
    assert sorted(leaf["_rev"] for leaf in db.open_revs(base["_id"])) == ["2-bbb", "2-ccc"]


def test_school_database_gets_one_shard_and_the_cluster_default_copies(couch, school):
    """``PUT /db?q=1``: CouchDB reports the shards in the database's ``cluster`` block
    (``n`` stays the server's ``[cluster] n``); pouchdb-server ignores the parameter."""
    provision_school(couch, school)
    info = couch.db(school_db_name(school)).info()
    if "cluster" not in info:
        pytest.skip("pouchdb-server has no shards (its database info has no cluster block)")
    assert info["cluster"]["q"] == SCHOOL_DB_Q == 1
    shards = couch.request("GET", f"/{school_db_name(school)}/_shards")["shards"]
    assert list(shards) == ["00000000-ffffffff"]
    assert len(shards["00000000-ffffffff"]) == info["cluster"]["n"]
