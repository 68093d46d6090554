"""Accepting relayed reports (docs/relay.md): a carrier device uploads codes another device
signed; each is checked and written into the origin's database with the origin's revision.

Per payload, in this order (the first that fails decides the answer): decode
(``malformed``) -> the origin device's registry record (``unknown_device``, ``revoked``,
``no_key``) -> its signature over the exact body bytes (``bad_signature``) -> the
document's school (or county) is the device's (``wrong_school``) -> ``_revs_diff``: a
revision the database has is ``already_delivered`` -> the form's validation (``invalid``;
the service writes as a server admin, whom ``validate_doc_update`` lets through, so the
check is made here first) -> ``_bulk_docs`` with ``new_edits: false`` -> an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mobile_schema import format_forbidden, validate_document
from mobile_schema.errors import MalformedPayload
from mobile_schema.relay import DecodedPayload, decode_payload
from server.audit import AuditLog, utc_now_iso
from server.devices.keys import signature_verifies
from server.devices.service import DEVICE_ROLE, INSPECTOR
from sync.couch import CouchClient, Database
from sync.errors import NotFound
from sync.provision import REGISTRY_DB, inspections_db_name, school_db_name

ACCEPTED = "accepted"
ALREADY_DELIVERED = "already_delivered"
REFUSED = "refused"


class NotACarrier(Exception):
    """The account may not carry: a person's account, or a device not active in the registry (403)."""


class Refused(Exception):
    """One payload refused: ``code`` (docs/relay.md) and ``reason`` (English / Chinese)."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class Carrier:
    """The device uploading, as the audit log names it."""

    device: str
    label: str | None
    school_id: str | None
    county_id: str | None
    name: str  # how a report's history names it: the device's label, else its school's or county's name


class RelayService:
    """Takes the service's admin ``CouchClient`` and the audit log."""

    def __init__(self, couch: CouchClient, audit: AuditLog):
        self.couch = couch
        self.registry = couch.db(REGISTRY_DB)
        self.audit = audit

    def carrier(self, name: str, roles: tuple[str, ...]) -> Carrier:
        """The carrier behind an account CouchDB verified. Raises ``NotACarrier``."""
        if DEVICE_ROLE not in roles:
            raise NotACarrier("only an enrolled device carries reports: sign in as the device account")
        record = self.registry.get_or_none(f"device:{name}")
        if record is None or record.get("type") != "device" or record.get("status") != "active":
            raise NotACarrier("this device is not enrolled, or has been revoked")
        school_id, county_id = record.get("school_id"), record.get("county_id")
        place = self.registry.get_or_none(f"school:{school_id}" if school_id else f"county:{county_id}") or {}
        return Carrier(device=name, label=record.get("label") or None, school_id=school_id, county_id=county_id,
                       name=record.get("label") or place.get("name") or school_id or county_id or name)

    def deliver(self, carrier: Carrier, payloads: list[str]) -> list[dict]:
        """One result per payload, in order. Raises the CouchDB client's errors for a database
        that does not answer (the carrier keeps everything and tries again: accepted ones are
        then ``already_delivered``)."""
        origins: dict[str, dict | None] = {}  # registry records (origin devices, their schools), read once per request
        results = []
        for index, text in enumerate(payloads):
            try:
                result = self._deliver_one(carrier, text, origins)
            except Refused as refused:
                result = {"status": REFUSED, "code": refused.code, "reason": refused.reason}
            results.append({"index": index, **result})
        return results

    def _deliver_one(self, carrier: Carrier, text: str, origins: dict[str, dict | None]) -> dict:
        try:
            payload = decode_payload(text)
        except MalformedPayload as exc:
            raise Refused("malformed", f"not a readable relay code: {exc.reason} / 无法读取的代传码") from None
        doc = payload.doc
        origin = payload.origin_device
        if origin not in origins:
            origins[origin] = self.registry.get_or_none(f"device:{origin}")
        record = origins[origin]
        db = self._check_origin(payload, record)
        assert record is not None
        answer = {"doc_id": doc["_id"], "rev": doc["_rev"], "school_id": doc.get("school_id"),
                  "school_name": self._school_name(doc.get("school_id"), origins), "origin_device": origin}
        if doc.get("county_id") is not None:
            answer["county_id"] = doc["county_id"]
        if not self._missing(db, doc["_id"], doc["_rev"]):
            return {"status": ALREADY_DELIVERED, **answer}
        issues = self._validate(doc, record, origin)
        if issues:
            raise Refused("invalid", format_forbidden(issues))
        (result,) = db.bulk_docs([doc], new_edits=False)
        if result.error == "forbidden":
            raise Refused("invalid", result.reason or "refused by the database / 数据库拒绝")
        if not result.ok:
            raise Refused("invalid", f"the database refused it: {result.error}: {result.reason}")
        self.audit.record(
            who=carrier.device, action="relay", target=doc["_id"], db=db.name, doc_id=doc["_id"],
            school_id=doc.get("school_id"), county_id=doc.get("county_id"),
            after={"rev": doc["_rev"], "origin_device": origin, "carrier_device": carrier.device,
                   "carrier_name": carrier.name, "carrier_label": carrier.label, "carrier_school_id": carrier.school_id,
                   "carrier_county_id": carrier.county_id, "relayed_at": utc_now_iso()})
        return {"status": ACCEPTED, **answer}

    def _school_name(self, school_id: str | None, cache: dict[str, dict | None]) -> str | None:
        """The origin school's name (a carrier from another school does not know it); read once
        per request, in the same cache as the origin devices' records."""
        if not school_id:
            return None
        key = f"school:{school_id}"
        if key not in cache:
            cache[key] = self.registry.get_or_none(key)
        return (cache[key] or {}).get("name")

    def _check_origin(self, payload: DecodedPayload, record: dict | None) -> Database:
        """The origin's database, once the device, its key, its signature and its school hold."""
        doc = payload.doc
        origin = payload.origin_device
        if record is None or record.get("type") != "device":
            raise Refused("unknown_device", f"no enrolled device {origin} / 没有这台设备")
        if record.get("status") != "active":
            raise Refused("revoked", f"device {origin} was revoked, and its key with it / 该设备已被停用")
        if not record.get("public_key"):
            raise Refused("no_key", f"device {origin} never registered a key / 该设备没有登记密钥")
        if not signature_verifies(record["public_key"], payload.body_bytes, payload.signature):
            raise Refused("bad_signature", "the signature does not match: the code was changed, or another "
                                           "device signed it / 签名不符:代传码被改动,或由别的设备签名")
        if record.get("kind") == INSPECTOR:
            county_id = record.get("county_id")
            if not county_id or doc.get("county_id") != county_id:
                raise Refused("wrong_school", f"device {origin} inspects county {county_id}, the document names "
                                              f"{doc.get('county_id')} / 文档所属县与设备不符")
            db = self.couch.db(inspections_db_name(county_id))
        else:
            school_id = record.get("school_id")
            if not school_id or doc.get("school_id") != school_id:
                raise Refused("wrong_school", f"device {origin} is enrolled for school {school_id}, the document "
                                              f"names {doc.get('school_id')} / 文档所属学校与设备不符")
            db = self.couch.db(school_db_name(school_id))
        return db

    def _missing(self, db: Database, doc_id: str, rev: str) -> bool:
        """Whether the database lacks that revision (as a leaf or in any branch's history)."""
        try:
            missing = db.revs_diff({doc_id: [rev]})
        except NotFound:
            raise Refused("wrong_school", f"the origin's database {db.name} does not exist / 数据库不存在") from None
        return rev in missing.get(doc_id, [])

    @staticmethod
    def _validate(doc: dict[str, Any], record: dict, origin: str) -> list:
        if record.get("kind") == INSPECTOR:
            return validate_document(doc, county_id=record.get("county_id"), device=origin)
        return validate_document(doc, school_id=record.get("school_id"), device=origin)


def relays_of(audit: AuditLog, db_name: str, first_id: str, last_id: str) -> dict[str, dict]:
    """``doc_id -> the latest relay record`` for the documents of one database whose ids lie in
    ``first_id..last_id`` (one ``ops/by_source`` range read), as ``AuditLog.public`` gives them."""
    rows = audit.ops.view("ops", "by_source", startkey=[db_name, first_id], endkey=[db_name, last_id, {}],
                          include_docs=True)["rows"]
    found: dict[str, dict] = {}
    for row in rows:
        doc = row.get("doc") or {}
        if doc.get("type") == "audit" and doc.get("action") == "relay" and doc.get("doc_id"):
            entry = AuditLog.public(doc)
            if doc["doc_id"] not in found or entry["at"] > found[doc["doc_id"]]["at"]:
                found[doc["doc_id"]] = entry
    return found


__all__ = ["ACCEPTED", "ALREADY_DELIVERED", "REFUSED", "Carrier", "NotACarrier", "RelayService", "Refused", "relays_of"]
