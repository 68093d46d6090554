"""The generated validate_doc_update: ES5, and agreeing with validate_document.

Runs the function in node (one process per batch), no database needed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobile_schema import NOT_AUTHORIZED, format_forbidden, validate_doc_update_source, validate_document
from mobile_schema.examples import (
    COUNTY,
    DEVICE,
    SCHOOL,
    daily_health,
    daily_health_v1,
    device_status,
    explanation,
    incident,
    inspection,
    zero_report,
)
from mobile_schema.validation import DELETION_REFUSED

ROOT = pathlib.Path(__file__).resolve().parents[2]
ACORN = ROOT / "node_modules" / "acorn"
RUNNER = pathlib.Path(__file__).with_name("node_vdu.js")

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

SCHOOL_SRC = validate_doc_update_source(school_id=SCHOOL)
COUNTY_SRC = validate_doc_update_source(county_id=COUNTY)
DEVICE_CTX = {"name": DEVICE, "roles": [f"school:{SCHOOL}", "device"]}
INSPECTOR_CTX = {"name": DEVICE, "roles": [f"inspector:{COUNTY}"]}


def run_vdu(src: str, cases: list[dict]) -> list[dict]:
    proc = subprocess.run(
        ["node", str(RUNNER)],
        input=json.dumps({"src": src, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def verdict(issues) -> dict:
    return {"forbidden": format_forbidden(issues)} if issues else {"ok": True}


# Dates are written well away from "today" so node's clock and Python's agree.
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.mark.skipif(not ACORN.exists(), reason="acorn is not installed (npm install)")
@pytest.mark.parametrize("src", [SCHOOL_SRC, COUNTY_SRC], ids=["school", "county"])
def test_source_is_es5(src):
    check = (
        "const acorn = require(process.argv[1]);"
        "const src = require('fs').readFileSync(0, 'utf8');"
        "acorn.parse('(' + src + ')', {ecmaVersion: 5});"
    )
    subprocess.run(["node", "-e", check, str(ACORN)], input=src, text=True, check=True, timeout=60)
    assert src.startswith("function (newDoc, oldDoc, userCtx, secObj) {")


def test_source_rejects_bad_arguments():
    with pytest.raises(ValueError):
        validate_doc_update_source()
    with pytest.raises(ValueError):
        validate_doc_update_source(school_id="s1", county_id="c1")
    with pytest.raises(ValueError):
        validate_doc_update_source(school_id="s1'; drop")


def test_access_rules():
    tombstone = {"_id": "report:daily_health:2020-03-02", "_rev": "1-a", "_deleted": True}
    other_device = {"name": "device_other", "roles": [f"school:{SCHOOL}"]}
    cases = [
        {"doc": daily_health(date="2020-03-02"), "userCtx": DEVICE_CTX},  # ok
        {"doc": {"type": "config", "anything": 1}, "userCtx": {"name": "svc", "roles": ["_admin"]}},  # admin: ok
        {"doc": tombstone, "userCtx": {"name": "svc", "roles": ["_admin"]}},  # the service deletes: ok
        {"doc": daily_health(date="2020-03-02"), "userCtx": {"name": DEVICE, "roles": ["school:s0002"]}},
        {"doc": daily_health(date="2020-03-02"), "userCtx": other_device},
        {"doc": {**daily_health(date="2020-03-02"), "type": "correction"}, "userCtx": DEVICE_CTX},
        {"doc": {**daily_health(date="2020-03-02"), "school_id": "s0002"}, "userCtx": DEVICE_CTX},
        {"doc": inspection(), "userCtx": DEVICE_CTX},
        {"doc": daily_health(date="2099-01-01"), "userCtx": DEVICE_CTX},
    ]
    got = run_vdu(SCHOOL_SRC, cases)
    assert got[:3] == [{"ok": True}] * 3
    assert got[3] == {"forbidden": format_forbidden([NOT_AUTHORIZED])}
    assert got[4]["forbidden"].startswith("meta.device: device ")
    assert got[5]["forbidden"].startswith("type: documents of type correction are written by the server only / ")
    assert got[6]["forbidden"].startswith("school_id: school s0002 is not this database's school s0001")
    assert got[7]["forbidden"].startswith("type: documents of type inspection do not belong in this database")
    assert got[8]["forbidden"].startswith("date: date 2099-01-01 is in the future")

    # No device deletes anything: a report, the school's config, its own status; nor does a non-member.
    deletions = [
        {"_id": "report:daily_health:2020-03-02", "_rev": "1-a", "_deleted": True},
        {"_id": "config:device", "_rev": "1-a", "_deleted": True},
        {"_id": f"device_status:{DEVICE}", "_rev": "1-a", "_deleted": True},
        {**daily_health(date="2020-03-02"), "_rev": "1-a", "_deleted": True},  # a tombstone with a body too
    ]
    got = run_vdu(SCHOOL_SRC, [{"doc": d, "userCtx": DEVICE_CTX} for d in deletions])
    assert got == [verdict([DELETION_REFUSED])] * len(deletions)
    assert got[0]["forbidden"].startswith("_deleted: documents here are deleted only by the service")
    assert run_vdu(SCHOOL_SRC, [{"doc": deletions[1], "userCtx": {"name": "x", "roles": ["school:s0002"]}}]) == [
        verdict([NOT_AUTHORIZED])
    ]
    assert [validate_document(d) for d in deletions] == [[DELETION_REFUSED]] * len(deletions)

    county = run_vdu(
        COUNTY_SRC,
        [
            {"doc": inspection(), "userCtx": INSPECTOR_CTX},
            {"doc": inspection(), "userCtx": DEVICE_CTX},
            {"doc": daily_health(date="2020-03-02"), "userCtx": INSPECTOR_CTX},
        ],
    )
    assert county[0] == {"ok": True}
    assert county[1] == {"forbidden": format_forbidden([NOT_AUTHORIZED])}
    assert county[2]["forbidden"].startswith("type: documents of type report do not belong")


# --- agreement: hypothesis generates valid and broken documents -----------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    # Beyond 2**53 JavaScript cannot hold the integer CouchDB hands it.
    st.integers(min_value=-(2**53), max_value=2**53),
    # Apache CouchDB's JSON decoder stores the smallest subnormals as 0.0 (5e-324 reads back
    # as 0.0), so the database would judge another value than Python did.
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64),
    st.text(max_size=12),
)
# BMP keys: JavaScript sorts strings by UTF-16 units, Python by code points.
KEYS = st.text(st.characters(max_codepoint=0xD7FF), max_size=6)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=6,
)
PAST_DATES = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2025, 12, 31)).map(dt.date.isoformat)
SPECIAL = st.sampled_from(
    [
        "",
        "13800138000",
        "11010519900307002X",
        "G3C2-017",
        "abc",
        "2026-02-30",
        "2099-01-01",
        "fever",
        "closed",
        "isolated",
        "reported",
        "device_other",
        "s0002",
        "entry_temperature",
        "campus_epidemic_2020",
        "x" * 2001,
        "closed_holiday",
        "flood",
    ]
)
SMALL_INTS = st.integers(min_value=-3, max_value=130)
_MISSING = "__missing__"
ANY_VALUE = st.one_of(SMALL_INTS, SPECIAL, JSON_VALUES, st.just(_MISSING))

BASES = [
    lambda: daily_health(date="2021-05-10"),
    lambda: zero_report(),
    lambda: daily_health_v1(),
    lambda: incident(),
    lambda: device_status(),
    lambda: explanation(),
]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def documents(draw):
    doc = draw(st.sampled_from(BASES))()
    if doc["type"] == "report" and doc["date"] != "2021-05-10":
        date = draw(PAST_DATES)
        doc["_id"], doc["date"] = f"report:daily_health:{date}", date
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        target = doc
        for key in path[:-1]:
            target = target[key]
        value = draw(ANY_VALUE)
        if value == _MISSING:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        if draw(st.booleans()) and isinstance(doc.get("data"), dict):
            doc["data"][draw(st.sampled_from(COUNTED))] = draw(SMALL_INTS)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        doc["_attachments"] = {"a.txt": {"content_type": "text/plain", "data": "aGk="}}
    return doc


# Fields the generator sets to small numbers: each cross-field bound gets crossed now and then.
COUNTED = [
    "extra",
    "students_present",
    "fever_at_check",
    "status",
    "students_enrolled",
    "isolated_on_campus",
    "sent_to_hospital",
    "close_contacts",
    "staff_present",
    "respiratory_symptoms",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(documents(), min_size=20, max_size=20))
def test_vdu_agrees_with_validate_document(docs):
    docs = [json.loads(json.dumps(d)) for d in docs]  # as CouchDB would hand them over
    got = run_vdu(SCHOOL_SRC, [{"doc": d, "userCtx": DEVICE_CTX} for d in docs])
    for doc, js in zip(docs, got, strict=True):
        issues = validate_document(copy.deepcopy(doc), now=now(), school_id=SCHOOL, device=DEVICE)
        assert js == verdict(issues), (doc, issues)


def test_vdu_agrees_on_handmade_cases():
    broken = [
        daily_health(date="2021-05-10", students_present=121),
        daily_health(date="2021-05-10", absent_other=5),
        daily_health(date="2021-05-10", notes="x" * 2001),
        daily_health(date="2021-05-10", notes="\U0001f600" * 2000),  # 2000 code points, 4000 UTF-16 units
        zero_report(close_contacts=2, staff_fever=1),
        {**daily_health(date="2021-05-10"), "schema_version": 3},
        {**daily_health(date="2021-05-10"), "schema_version": 1e300},
        {**daily_health(date="2021-05-10"), "meta": None},
        incident(student_ref="138 0013 8000"),
        incident(status="reported"),
        incident(actions=[{"date": "2026-13-01", "code": "isolated"}, None]),
        incident(
            status_history=[
                {"status": "isolated", "at": "2026-11-27T00:30:00Z"},
                {"status": "reported", "at": "2026-11-27T00:40:00Z"},
            ]
        ),
        {**device_status(), "_id": "device_status:device_other"},
        device_status(storage_used_bytes=2**53),
        # Item 16: impossible counts, each alone and together with simple field errors.
        daily_health(
            date="2021-05-10", students_enrolled=300, students_present=290, absent_illness=7, isolated_on_campus=400
        ),
        daily_health(
            date="2021-05-10",
            sent_to_hospital=121,
            suspected_cases=121,
            confirmed_cases=121,
            close_contacts=121,
            respiratory_symptoms=121,
            returned_from_affected_areas=121,
        ),
        daily_health(date="2021-05-10", staff_total="12", isolated_on_campus=115, notes=5),
        daily_health(date="2021-05-10", students_present=None, isolated_on_campus=500, close_contacts=500),
        {**daily_health(date="2021-05-10", extra=1, more=2, close_contacts=999), "meta": None, "_id": "x"},
        daily_health_v1(absent=7, isolated_on_campus=200),
        # Every field broken: the refusal spells out ten issues and counts the rest.
        daily_health(date="2021-05-10", **{name: "x" for name in daily_health()["data"]}),
        # Item 9: attachments.
        {**daily_health(date="2021-05-10"), "_attachments": {"evil.html": {"stub": True, "length": 5}}},
        {**daily_health(date="2021-05-10"), "_attachments": {}},
        {**incident(), "_attachments": {"x": {}}, "_id": "incident:bad"},
    ]
    got = run_vdu(SCHOOL_SRC, [{"doc": d, "userCtx": DEVICE_CTX} for d in broken])
    for doc, js in zip(broken, got, strict=True):
        assert js == verdict(validate_document(doc, now=now(), school_id=SCHOOL, device=DEVICE)), doc
    inspections = [
        inspection(),
        inspection(items=[{"item_id": "karaoke", "status": "ok", "note": ""}]),
        inspection(items=[{"item_id": "canteen", "status": "ok"}, {"item_id": "canteen", "status": "issue"}]),
        inspection(checklist_version=2),
        inspection(follow_up_status="closed"),
        {**inspection(), "county_id": "c000001"},
    ]
    got = run_vdu(COUNTY_SRC, [{"doc": d, "userCtx": INSPECTOR_CTX} for d in inspections])
    for doc, js in zip(inspections, got, strict=True):
        assert js == verdict(validate_document(doc, now=now(), county_id=COUNTY, device=DEVICE)), doc
    assert got[0] == {"ok": True} and all("forbidden" in v for v in got[1:])
