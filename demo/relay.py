"""One report of the demo arrives the way a school with no signal sends it (docs/relay.md):
its device hands it over as a signed code and another school's device of the same county
carries it to the server, so the officer's school page shows "relayed by" and the audit log
has the relay. The report itself is the one the plan made, so every figure stays the same.

``withhold`` takes the report out of the devices' direct writes (before ``write_reports``);
``carry_in`` then signs it with a key of the origin device (registered on its registry
record, as the app registers one at enrolment) and delivers it through the service's own
``RelayService``, with the same checks as ``POST /api/v1/relay``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from demo.generate import DemoManifest, SchoolWrites, devices_of
from mobile_schema.relay import encode_payload
from server.audit import AuditLog
from server.devices.keys import public_key_text, sign_as_device
from server.relay.service import ACCEPTED, RelayService
from sync.couch import CouchClient
from sync.provision import REGISTRY_DB


@dataclass(frozen=True)
class Withheld:
    doc: dict  # as the origin device stored it, before any revision
    origin: str  # the device that wrote it
    carrier: str  # a device of another school of the same county


def withhold(manifest: DemoManifest, all_writes: list[SchoolWrites]) -> Withheld | None:
    """Take the first school's last-day report (written once, by one device, not edited) out of
    its device's writes, with a carrier for it; None when the demo has no such report."""
    last_day = manifest.shape.end_date.isoformat()
    county_of = {s["_id"].split(":", 1)[1]: s["county_id"] for s in manifest.schools()}
    for writes in sorted(all_writes, key=lambda w: w.school_id):
        written = [doc["_id"] for docs in (*writes.plain.values(), *writes.bases.values(), *writes.branches.values())
                   for doc in docs]
        for device, docs in sorted(writes.plain.items()):
            doc = next((d for d in docs if d.get("date") == last_day and d.get("type") == "report"
                        and "_rev" not in d and written.count(d["_id"]) == 1), None)
            neighbours = [s for s, county in sorted(county_of.items())
                          if county == county_of[writes.school_id] and s != writes.school_id]
            if doc is None or not neighbours:
                continue
            docs.remove(doc)
            return Withheld(doc=doc, origin=device, carrier=devices_of(manifest, neighbours[0])[-1])
    return None


def carry_in(couch: CouchClient, manifest: DemoManifest, withheld: Withheld) -> dict:
    """Sign the withheld report as its device and deliver it as the carrier; returns the result."""
    key = ec.generate_private_key(ec.SECP256R1())
    registry = couch.db(REGISTRY_DB)
    record = registry.get(f"device:{withheld.origin}")
    registry.put(dict(record, public_key=public_key_text(key), key_registered_at=withheld.doc["meta"]["created_at"]))

    revision = secrets.token_hex(16)  # as PouchDB names a first revision on the device
    doc = dict(withheld.doc, _rev=f"1-{revision}", _revisions={"start": 1, "ids": [revision]})
    relay = RelayService(couch, AuditLog(couch))
    carrier = relay.carrier(withheld.carrier, tuple(manifest.accounts[withheld.carrier]["roles"]))
    (result,) = relay.deliver(carrier, [encode_payload(doc, lambda body: sign_as_device(key, body))])
    if result["status"] != ACCEPTED:
        raise RuntimeError(f"the demo's relayed report was not accepted: {result}")
    return result
