"""A school's devices (and an inspector's): their registry records and the status documents
they sync.

Enrolment is ``server.devices`` (a device account per device). Here an admin sees each
device with what it last reported about itself (``device_status:<device>`` in the school
database: app version, last sync, waiting count, clock offset, last error) and revokes a
device: its ``_users`` account is deleted, so CouchDB refuses it at once, and its registry
record says ``revoked`` (kept, so reports it wrote still say where they came from; its
signing key stays on the record for audit, and a relayed report it signed is refused from
then on, because ``server.relay`` checks the record's status).
"""

from __future__ import annotations

from datetime import UTC, datetime

from server.admin.errors import NotFoundError
from server.audit import AuditLog, utc_now_iso
from sync.canonical import utc_iso
from sync.couch import CouchClient
from sync.device_status import STATUS_FIELDS
from sync.errors import NotFound
from sync.provision import REGISTRY_DB, ensure_doc, school_db_name

# Devices by school, and inspectors' devices by county (those have no school). The registry's
# own design (sync/design.py) has no such views yet; the service keeps this one design doc of
# its own until provisioning takes it over.
ADMIN_REGISTRY_DESIGN = {
    "_id": "_design/admin",
    "language": "javascript",
    "views": {
        "devices_by_school": {
            "map": "function (doc) { if (doc.type === 'device') { emit([doc.school_id, doc._id], doc.status); } }",
        },
        "devices_by_county": {
            "map": "function (doc) { if (doc.type === 'device' && doc.kind === 'inspector') "
                   "{ emit([doc.county_id, doc._id], doc.status); } }",
        },
    },
}
_ensured: set[str] = set()


def ensure_admin_design(couch: CouchClient) -> None:
    """Write ``_design/admin`` in the registry once per process (it is idempotent anyway)."""
    if couch.base_url not in _ensured:
        ensure_doc(couch.db(REGISTRY_DB), ADMIN_REGISTRY_DESIGN)
        _ensured.add(couch.base_url)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def server_time_of_sync(status: dict) -> str | None:
    """The device's last sync on the server's clock: its own time plus its measured offset."""
    moment = _parse_time(status.get("last_sync_at"))
    if moment is None:
        return None
    offset = status.get("clock_offset_ms")
    if isinstance(offset, int):
        from datetime import timedelta

        moment = moment + timedelta(milliseconds=offset)
    return utc_iso(moment)


def device_statuses(couch: CouchClient, school_id: str) -> dict[str, dict]:
    """``device -> data`` of every ``device_status`` doc in the school's database ({} when none)."""
    try:
        rows = couch.db(school_db_name(school_id)).all_docs(
            startkey="device_status:", endkey="device_status:\ufff0", include_docs=True)["rows"]
    except NotFound:
        return {}
    return {row["id"].split(":", 1)[1]: (row.get("doc") or {}).get("data") or {} for row in rows}


class DeviceAdmin:
    """Devices of a school; takes the admin ``CouchClient`` and the audit log."""

    def __init__(self, couch: CouchClient, audit: AuditLog):
        self.couch = couch
        self.registry = couch.db(REGISTRY_DB)
        self.audit = audit

    def registry_devices(self, school_id: str, *, view: str = "devices_by_school") -> list[dict]:
        """Registry records of a school's devices (or, with ``view="devices_by_county"``, of a
        county's inspector devices: ``school_id`` is then the county's id)."""
        ensure_admin_design(self.couch)
        rows = self.registry.view("admin", view, startkey=[school_id], endkey=[school_id, {}],
                                  include_docs=True)["rows"]
        return [row["doc"] for row in rows if row.get("doc")]

    def devices(self, school_id: str) -> list[dict]:
        """Every device the registry or the school's database knows, with its last status."""
        records = {doc["_id"].split(":", 1)[1]: doc for doc in self.registry_devices(school_id)}
        statuses = device_statuses(self.couch, school_id)
        out = []
        for device in sorted(set(records) | set(statuses)):
            status = statuses.get(device) or {}
            item = self._listed(device, records.get(device) or {})
            item["has_status"] = bool(status)
            item.update({name: status.get(name) for name in STATUS_FIELDS})
            item["last_sync_server_time"] = server_time_of_sync(status)
            out.append(item)
        return out

    def inspector_devices(self, county_id: str) -> list[dict]:
        """The county's inspectors' devices (personal: ``enrolled_by`` is the inspector). They
        write no status documents (their database takes inspections only)."""
        records = self.registry_devices(county_id, view="devices_by_county")
        return [self._listed(doc["_id"].split(":", 1)[1], doc) for doc in records]

    @staticmethod
    def _listed(device: str, record: dict) -> dict:
        return {"device": device, "label": record.get("label"), "status": record.get("status") or "unregistered",
                "enrolled_by": record.get("enrolled_by"), "enrolled_at": record.get("enrolled_at"),
                "revoked_at": record.get("revoked_at"), "has_status": False,
                "key_registered": bool(record.get("public_key")), "key_registered_at": record.get("key_registered_at")}

    def revoke(self, *, who: str, device: str, school_id: str | None = None, county_id: str | None = None) -> dict:
        """Delete the device's account and mark it revoked. Raises ``NotFoundError`` when the
        device is not one of this school's (or, given ``county_id``, of this county's inspectors')."""
        record = self.registry.get_or_none(f"device:{device}")
        if county_id is not None:
            if record is None or record.get("type") != "device" or record.get("kind") != "inspector" \
                    or record.get("county_id") != county_id:
                raise NotFoundError(f"no inspector's device {device!r} in county {county_id}")
        elif record is None or record.get("type") != "device" or record.get("school_id") != school_id:
            raise NotFoundError(f"no device {device!r} at school {school_id}")
        before = {k: record.get(k) for k in ("status", "label", "enrolled_by")}
        account_deleted = self.couch.delete_user(device)
        record.update(status="revoked", revoked_at=utc_now_iso(), revoked_by=who)
        self.registry.put(record)
        from server.admin.sync_health import forget_cached  # sync_health imports this module

        forget_cached()
        after = {k: record.get(k) for k in ("status", "label", "enrolled_by", "revoked_at")}
        self.audit.record(who=who, action="device.revoke", target=f"device:{device}", before=before,
                          after=dict(after, account_deleted=account_deleted))
        place = {"county_id": county_id} if county_id is not None else {"school_id": school_id}
        return {"device": device, **place, **after}
