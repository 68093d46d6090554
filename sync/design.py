"""Design documents (views and validation) of every database, as Python data.

Views are ES5 JavaScript (CouchDB's engine may be an old SpiderMonkey) and stateless.
Summaries are built from figures the worker has already computed into each canonical
report (``metrics`` and ``timeliness``), so the map functions stay trivial and the
arithmetic lives in Python, where it is tested.
"""

from __future__ import annotations

from mobile_schema import validate_doc_update_source

# Order of the metric vector each canonical daily report carries in ``metrics``; the
# summary view sums these arrays with the built-in ``_sum`` reducer.
METRIC_FIELDS: tuple[str, ...] = (
    "reports",
    "zero_reports",
    "on_time_device",
    "on_time_server",
    "students_enrolled",
    "students_present",
    "absent_illness",
    "absent_fever",
    "absent_other",
    "fever_at_check",
    "respiratory_symptoms",
    "isolated_on_campus",
    "sent_to_hospital",
    "suspected_cases",
    "confirmed_cases",
    "close_contacts",
    "returned_from_affected_areas",
    "staff_total",
    "staff_present",
    "staff_fever",
)

# One row per level so that a single key range answers a county, a prefecture or the
# province: ["county", id, date], ["prefecture", id, date], ["province", "", date].
_SUMMARY_MAP = """function (doc) {
  if (doc.type !== 'canonical_report' || doc.form !== 'daily_health' || !doc.metrics) { return; }
  emit(['county', doc.county_id, doc.date], doc.metrics);
  emit(['prefecture', doc.prefecture_id, doc.date], doc.metrics);
  emit(['province', '', doc.date], doc.metrics);
}"""

_BY_DATE_MAP = """function (doc) {
  if (doc.type !== 'canonical_report' || doc.form !== 'daily_health' || !doc.metrics) { return; }
  emit([doc.date, doc.county_id], doc.metrics);
}"""

_REPORTED_MAP = """function (doc) {
  if (doc.type !== 'canonical_report' || doc.form !== 'daily_health') { return; }
  emit([doc.county_id, doc.date, doc.school_id], doc.data && doc.data.zero_report ? 1 : 0);
}"""

# Explanations of days without a report, date first: every county's (or one county's) in
# one range query. Whether one counts (the school was expected and filed nothing) is decided
# in Python, against the ``reported`` view and the registry.
_EXPLAINED_MAP = """function (doc) {
  if (doc.type !== 'canonical_report' || doc.form !== 'explanation' || !doc.data) { return; }
  emit([doc.date, doc.county_id, doc.school_id], {reason: doc.data.reason, details: doc.data.details || '',
       received_at: doc.received_at, first_seen: doc.first_seen});
}"""

_LAST_REPORT_MAP = """function (doc) {
  if (doc.type !== 'canonical_report') { return; }
  emit([doc.school_id, doc.date], null);
}"""

# Per school and day, keyed by county first: a county's schools over a date range in one
# range query (drill-down to schools, alerts, the cross-check with the health department).
_SCHOOL_METRICS_MAP = """function (doc) {
  if (doc.type !== 'canonical_report' || doc.form !== 'daily_health' || !doc.metrics) { return; }
  emit([doc.county_id, doc.date, doc.school_id], doc.metrics);
}"""

REPORTS_DESIGN = {
    "_id": "_design/summaries",
    "language": "javascript",
    "views": {
        "daily": {"map": _SUMMARY_MAP, "reduce": "_sum"},
        # Date first: every county's figures for a date range in one range query (the
        # province's per-county breakdown), instead of one key per county and day.
        "daily_by_date": {"map": _BY_DATE_MAP, "reduce": "_sum"},
        "reported": {"map": _REPORTED_MAP, "reduce": "_count"},
        "by_school": {"map": _LAST_REPORT_MAP},
        "school_metrics": {"map": _SCHOOL_METRICS_MAP},
        "explained": {"map": _EXPLAINED_MAP},
    },
}

REGISTRY_DESIGN = {
    "_id": "_design/registry",
    "language": "javascript",
    "views": {
        "schools_by_county": {
            "map": """function (doc) {
  if (doc.type !== 'school') { return; }
  emit([doc.county_id, doc._id], {name: doc.name, opened: doc.opened, closed: doc.closed || null,
       prefecture_id: doc.prefecture_id});
}""",
        },
        "schools_by_prefecture": {
            "map": """function (doc) {
  if (doc.type !== 'school') { return; }
  emit([doc.prefecture_id, doc.county_id, doc._id], null);
}""",
            "reduce": "_count",
        },
        "by_type": {"map": "function (doc) { if (doc.type) { emit(doc.type, null); } }", "reduce": "_count"},
    },
}

OPS_DESIGN = {
    "_id": "_design/ops",
    "language": "javascript",
    "views": {
        "by_type_status": {
            "map": """function (doc) {
  if (!doc.type) { return; }
  emit([doc.type, doc.status || '', doc.county_id || '', doc.created_at || ''], null);
}""",
            "reduce": "_count",
        },
        "by_source": {
            "map": """function (doc) {
  if (!doc.db) { return; }
  emit([doc.db, doc.doc_id || '', doc.type], doc.status || null);
}""",
        },
        # Early warnings in alarm (sync/early_warning.py): a county's, a prefecture's or the
        # province's over a date range in one range query.
        "early_warnings": {
            "map": """function (doc) {
  if (doc.type !== 'early_warning' || !doc.alarm) { return; }
  var v = {scope: doc.scope, owner: doc.owner, school_id: doc.school_id, county_id: doc.county_id,
           alarms: doc.alarms};
  emit(['county', doc.county_id || '', doc.date], v);
  emit(['prefecture', doc.prefecture_id || '', doc.date], v);
  emit(['province', '', doc.date], v);
}""",
        },
        # The worker's copies of the devices' status docs (sync/device_status.py): a county's
        # (or the province's) devices in one range query, instead of one read per school database.
        "device_status_by_school": {
            "map": """function (doc) {
  if (doc.type !== 'device_status_mirror') { return; }
  emit([doc.county_id || null, doc.school_id, doc.device], {
    app_version: doc.app_version, last_sync_at: doc.last_sync_at, waiting_count: doc.waiting_count,
    storage_used_bytes: doc.storage_used_bytes, clock_offset_ms: doc.clock_offset_ms,
    last_error: doc.last_error, received_at: doc.received_at});
}""",
        },
    },
}

# Devices pull a window of dates: they ask this view for ids in the window and then
# replicate those ids (never a _selector filter, which crashes pouchdb-server). A county
# office's request is listed by the day it was sent, so one about an old date still arrives.
_WINDOW_MAP = """function (doc) {
  if (doc.type === 'request' && typeof doc.sent_at === 'string') { emit(doc.sent_at.slice(0, 10), null); }
  else if (doc.date) { emit(doc.date, null); }
  else if (doc.type === 'config' || doc.type === 'device_status') { emit('', null); }
}"""


def school_design(school_id: str) -> dict:
    return {
        "_id": "_design/school",
        "language": "javascript",
        "validate_doc_update": validate_doc_update_source(school_id=school_id),
        "views": {"window": {"map": _WINDOW_MAP}},
    }


def inspections_design(county_id: str) -> dict:
    return {
        "_id": "_design/inspections",
        "language": "javascript",
        "validate_doc_update": validate_doc_update_source(county_id=county_id),
        "views": {"window": {"map": _WINDOW_MAP}},
    }
