"""Which schools and devices have not synced for N days, worst first.

A device's last sync is what its own status document says (``last_sync_at``), moved onto
the server's clock by the offset the device measured (``clock_offset_ms``): rural devices
often have wrong clocks. A school's last sync is its most recent device's. Never synced
sorts before anything else, then the longest silence. Revoked devices and closed schools
are left out (they are not expected to sync).

The statuses are the worker's copies in ``ops`` (``sync.device_status``), never the school
databases: a status is as fresh as the worker has made it. Cost: two registry reads (the
schools, the devices) and one ``ops/device_status_by_school`` query for the county, or for
the whole province; the answer is cached for a minute.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from datetime import UTC, datetime

from server.admin.devices import STATUS_FIELDS, ensure_admin_design, server_time_of_sync
from server.spreadsheet import safe_cell
from sync.couch import CouchClient
from sync.device_status import mirrored_statuses
from sync.provision import OPS_DB, REGISTRY_DB

CACHE_S = 60.0
CSV_COLUMNS = ("kind", "school_id", "school_name", "county_id", "device", "label", "last_sync_at",
               "days_since_sync", "waiting_count", "app_version", "last_error")

_cache: dict[tuple, tuple[float, dict]] = {}
_cache_lock = threading.Lock()


def forget_cached() -> None:
    """Drop cached answers (after an admin changed what they show, e.g. revoked a device)."""
    with _cache_lock:
        _cache.clear()


def _days_since(moment: str | None, now: datetime) -> float | None:
    if not moment:
        return None
    then = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return round((now - then).total_seconds() / 86400, 1)


def _worst_first(item: dict) -> tuple:
    return (item["last_sync_at"] is not None, item["last_sync_at"] or "", item.get("school_id") or "")


class SyncHealth:
    """Sync health over the registry's open schools; takes the admin ``CouchClient``."""

    def __init__(self, couch: CouchClient):
        self.couch = couch
        self.registry = couch.db(REGISTRY_DB)
        self.ops = couch.db(OPS_DB)

    def report(self, *, days: int, county_id: str | None = None, now: datetime | None = None,
               use_cache: bool = True) -> dict:
        key = (self.couch.base_url, days, county_id)
        if use_cache and now is None:
            with _cache_lock:
                hit = _cache.get(key)
            if hit and time.monotonic() - hit[0] < CACHE_S:
                return hit[1]
        result = self._report(days=days, county_id=county_id, now=now or datetime.now(UTC))
        if now is None:
            with _cache_lock:
                _cache[key] = (time.monotonic(), result)
        return result

    def _schools(self, county_id: str | None, today: str) -> list[dict]:
        if county_id:
            rows = self.registry.view("registry", "schools_by_county", startkey=[county_id],
                                      endkey=[county_id, {}], include_docs=True)["rows"]
        else:
            rows = self.registry.view("registry", "by_type", key="school", reduce=False, include_docs=True)["rows"]
        docs = [row["doc"] for row in rows if row.get("doc")]
        return [d for d in docs if not d.get("closed") or d["closed"] > today]

    def _report(self, *, days: int, county_id: str | None, now: datetime) -> dict:
        schools = self._schools(county_id, now.date().isoformat())
        ensure_admin_design(self.couch)
        records: dict[str | None, list[dict]] = {}
        for row in self.registry.view("admin", "devices_by_school", include_docs=True)["rows"]:
            doc = row.get("doc") or {}
            if doc.get("status") != "revoked":
                records.setdefault(doc.get("school_id"), []).append(doc)
        statuses = mirrored_statuses(self.ops, county_id)
        cutoff_days = float(days)
        school_items, device_items = [], []
        for school in schools:
            school_id = school["_id"].split(":", 1)[1]
            status_by_device = statuses.get(school_id, {})
            known = {d["_id"].split(":", 1)[1]: d for d in records.get(school_id, [])}
            devices = []
            for device in sorted(known):
                status = status_by_device.get(device) or {}
                synced = server_time_of_sync(status)
                item = {"device": device, "school_id": school_id, "school_name": school.get("name"),
                        "county_id": school.get("county_id"), "label": known.get(device, {}).get("label"),
                        "last_sync_at": synced, "days_since_sync": _days_since(synced, now)}
                item.update({k: status.get(k) for k in STATUS_FIELDS if k != "last_sync_at"})
                devices.append(item)
            synced_times = [d["last_sync_at"] for d in devices if d["last_sync_at"]]
            last = max(synced_times) if synced_times else None
            errors = sorted((d for d in devices if d.get("last_error")), key=lambda d: d["last_sync_at"] or "")
            stale_devices = [d for d in devices if d["days_since_sync"] is None or d["days_since_sync"] >= cutoff_days]
            since = _days_since(last, now)
            if since is None or since >= cutoff_days:
                school_items.append({"school_id": school_id, "school_name": school.get("name"),
                                     "county_id": school.get("county_id"), "last_sync_at": last,
                                     "days_since_sync": since, "devices": len(devices),
                                     "devices_stale": len(stale_devices),
                                     "last_error": errors[-1]["last_error"] if errors else None})
            device_items.extend(stale_devices)
        school_items.sort(key=_worst_first)
        device_items.sort(key=_worst_first)
        return {"days": days, "county_id": county_id,
                "generated_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "schools_checked": len(schools), "schools": school_items, "devices": device_items}


def sync_health_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for school in report["schools"]:
        writer.writerow([safe_cell(v) for v in ("school", school["school_id"], school["school_name"],
                                                school["county_id"], "", "", school["last_sync_at"],
                                                school["days_since_sync"], "", "", school["last_error"])])
    for device in report["devices"]:
        writer.writerow([safe_cell(v) for v in ("device", device["school_id"], device["school_name"],
                                                device["county_id"], device["device"], device["label"],
                                                device["last_sync_at"], device["days_since_sync"],
                                                device.get("waiting_count"), device.get("app_version"),
                                                device.get("last_error"))])
    return out.getvalue()
