"""The database and the Python schema give the same verdict on the same document.

Documents, valid and broken, are written to a real school database by a device account,
exactly as a phone would; the database's answer (accepted, or forbidden with a message)
must equal ``validate_document``'s (no issue, or ``format_forbidden(issues[0])``).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mobile_schema import examples, format_forbidden, validate_document
from sync.couch import CouchClient
from sync.provision import provision_school, school_db_name
from tests.mobile_schema.test_couch_validation import documents


@pytest.fixture(scope="module")
def school_db(couch):
    import uuid

    run = uuid.uuid4().hex[:8]
    school_id, device = f"ag{run}", f"device_ag{run}"
    provision_school(couch, school_id)
    couch.put_user(device, password="pw", roles=[f"school:{school_id}", "device"])
    base = couch.base_url.split("://", 1)[1]
    with CouchClient(f"http://{device}:pw@{base}") as as_device:
        yield school_id, device, as_device.db(school_db_name(school_id)), couch.db(school_db_name(school_id))
    couch.delete_user(device)
    couch.db(school_db_name(school_id)).delete_database()


def as_this_school(doc: dict, school_id: str, device: str) -> dict:
    text = json.dumps(doc).replace(examples.DEVICE, device).replace(f'"{examples.SCHOOL}"', f'"{school_id}"')
    return json.loads(text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(documents(), min_size=10, max_size=10))
def test_database_verdict_equals_python_verdict(school_db, docs):
    school_id, device, as_device, as_admin = school_db
    docs = [as_this_school(raw, school_id, device) for raw in docs]
    # ids CouchDB would treat as special (or generate) are out of scope here
    docs = [d for d in docs if isinstance(d.get("_id"), str) and d["_id"] and not d["_id"].startswith("_")]
    assume(docs)
    for doc in docs:
        issues = validate_document(json.loads(json.dumps(doc)), school_id=school_id, device=device)
        [result] = as_device.bulk_docs([doc])
        if issues:
            assert result.error == "forbidden", (doc, issues)
            assert result.reason == format_forbidden(issues[0])
        else:
            assert result.ok, (doc, result)
            as_admin.delete(result.id, result.rev)  # keep the id free for the next example
        VERDICTS[bool(issues)] += 1


VERDICTS = {True: 0, False: 0}


def test_both_verdicts_were_exercised():
    """Runs after the property test (file order): it saw accepted and refused documents."""
    if not any(VERDICTS.values()):
        pytest.skip("run together with test_database_verdict_equals_python_verdict")
    assert VERDICTS[True] >= 20 and VERDICTS[False] >= 20, VERDICTS


def test_a_valid_v1_report_from_an_old_device_is_accepted(school_db):
    school_id, device, as_device, as_admin = school_db
    doc = as_this_school(examples.daily_health_v1(), school_id, device)
    assert validate_document(doc, school_id=school_id, device=device) == []
    [result] = as_device.bulk_docs([doc])
    assert result.ok
    as_admin.delete(result.id, result.rev)
