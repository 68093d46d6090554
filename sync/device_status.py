"""Copies of the devices' status documents in ``ops``, for reading a county at a time.

Each device keeps ``device_status:<device>`` in its school's database (last sync, waiting
count, storage, clock offset, last error). Reading those for a county or the province
took one request per school database; the worker therefore mirrors each one into ``ops``
as ``device_status:<device>`` (type ``device_status_mirror``) and the service reads a
county's, or the whole province's, with one query of ``ops/device_status_by_school``.

A mirror says which revision it copies (``source_rev``) and when the worker copied it
(``received_at``, the worker's clock). It is rewritten only when something in it changed,
and kept when the source is deleted: a device's last sync stays known. A mirror is only
as fresh as the worker; the service falls back on canonical reports for schools without
one (see ``server.summaries.service``).
"""

from __future__ import annotations

from typing import Any

from sync.couch import Database

MIRROR_TYPE = "device_status_mirror"
DEVICE_STATUS_PREFIX = "device_status:"
STATUS_FIELDS = ("app_version", "last_sync_at", "waiting_count", "storage_used_bytes", "clock_offset_ms",
                 "last_error")
_NOT_COMPARED = ("_rev", "received_at")


def mirror_id(device: str) -> str:
    return f"{DEVICE_STATUS_PREFIX}{device}"


def build_mirror(source: dict, *, db_name: str, school_id: str, county_id: str | None, received_at: str) -> dict:
    """The ``ops`` mirror of a valid, migrated ``device_status`` document (without ``_rev``).

    Raises ``ValueError`` when ``source`` has no ``device_status:<device>`` id or no ``_rev``.
    """
    doc_id = source.get("_id") or ""
    device = doc_id[len(DEVICE_STATUS_PREFIX):] if doc_id.startswith(DEVICE_STATUS_PREFIX) else ""
    if not device or not source.get("_rev"):
        raise ValueError(f"{doc_id!r} is not a stored device status document")
    data = source.get("data") or {}
    mirror: dict[str, Any] = {"_id": mirror_id(device), "type": MIRROR_TYPE, "db": db_name, "doc_id": doc_id,
                              "school_id": school_id, "county_id": county_id, "device": device}
    mirror.update({name: data.get(name) for name in STATUS_FIELDS})
    mirror.update(received_at=received_at, source_rev=source["_rev"])
    return mirror


def mirror_changed(new: dict, existing: dict | None) -> bool:
    """Whether ``new`` says anything ``existing`` (the stored mirror, or None) does not."""
    if existing is None or existing.get("type") != MIRROR_TYPE:
        return True
    keys = (set(new) | set(existing)) - set(_NOT_COMPARED)
    return any(new.get(k) != existing.get(k) for k in keys)


def mirrored_statuses(ops: Database, county_id: str | None = None) -> dict[str, dict[str, dict]]:
    """``school_id -> device -> status`` from the mirrors of one county, or of every county
    when ``county_id`` is None: one view query. Each status has ``STATUS_FIELDS``,
    ``received_at`` and ``county_id``.

    Raises ``sync.errors.NotFound`` when ``ops`` lacks the view (run ``python -m sync
    provision`` after an upgrade) and the client's other ``CouchError``s.
    """
    params: dict[str, Any] = {}
    if county_id is not None:
        params = {"startkey": [county_id], "endkey": [county_id, {}]}
    rows = ops.view("ops", "device_status_by_school", **params)["rows"]
    out: dict[str, dict[str, dict]] = {}
    for row in rows:
        county, school_id, device = row["key"]
        out.setdefault(school_id, {})[device] = dict(row.get("value") or {}, county_id=county)
    return out


__all__ = ["DEVICE_STATUS_PREFIX", "MIRROR_TYPE", "STATUS_FIELDS", "build_mirror", "mirror_changed", "mirror_id",
           "mirrored_statuses"]
