"""Create or upgrade every database the system needs; safe to run again and again.

``python -m sync provision`` runs ``provision_all``: the ``registry``, ``reports`` and
``ops`` databases (admin-only ``_security``, design documents), then one
``school_<id>`` database per school in the registry (members: role ``school:<id>``,
a ``validate_doc_update`` generated from ``mobile_schema``, the device config document),
and one ``inspections_<county>`` database per county. Anything already right is left
alone; a design document that changed is replaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sync.couch import CouchClient, Database
from sync.design import OPS_DESIGN, REGISTRY_DESIGN, REPORTS_DESIGN, inspections_design, school_design
from sync.errors import Conflict

REGISTRY_DB = "registry"
REPORTS_DB = "reports"
OPS_DB = "ops"
CORE_DBS = (REGISTRY_DB, REPORTS_DB, OPS_DB)
SCHOOL_DB_PREFIX = "school_"
INSPECTIONS_DB_PREFIX = "inspections_"
DEFAULT_WINDOW_DAYS = 60

# Shards per database (``PUT /db?q=``), chosen here rather than left to the server's
# ``[cluster] q`` (CouchDB's own default is 2), because the right number differs by
# database and q is fixed at creation (``_reshard`` can only split shards later, never
# merge them). ``n`` (copies) is left to ``[cluster] n``: 1 on one node, 3 in a cluster.
# Reasons and figures: docs/couchdb.md.
#
# School and inspection databases: one shard. About 20,000 of them, each a few hundred
# small documents; every shard is a file, an open-database slot ([couchdb] max_dbs_open)
# and an indexer per design document, so q = 2 would double all three for nothing.
SCHOOL_DB_Q = 1
INSPECTIONS_DB_Q = 1
# registry: schools, counties, people, calendars: tens of thousands of small documents,
# read mostly.
REGISTRY_DB_Q = 1
# reports: every canonical report (~600,000 a month, ~7 million a year) and the summary
# views over all of them. Each shard builds its view indexes in parallel with the others,
# so more shards re-index a changed design document faster after an upgrade; but every
# view query fans out to every shard, and on 2 vCPU the province query was ~30% slower
# at q = 4 than at q = 2 while q = 2 built about twice as fast as q = 1 (docs/couchdb.md).
# Split to 4 or 8 with _reshard on a bigger host, no application change.
REPORTS_DB_Q = 2
# ops: worker status, device status mirrors (one per device, rewritten as devices sync),
# resolutions, reviews, quarantine, audit: hundreds of thousands of documents, many
# rewrites, one view. Two shards spread the worker shards' writes over two files.
OPS_DB_Q = 2
CORE_DB_Q = {REGISTRY_DB: REGISTRY_DB_Q, REPORTS_DB: REPORTS_DB_Q, OPS_DB: OPS_DB_Q}

# pouchdb-server leaves a database with no _security open to everyone: say "admins only".
ADMIN_ONLY_SECURITY = {"admins": {"names": [], "roles": ["_admin"]}, "members": {"names": [], "roles": ["_admin"]}}

_DB_NAME_UNSAFE = re.compile(r"[^a-z0-9_$()+-]")


def _db_safe(raw: str) -> str:
    return _DB_NAME_UNSAFE.sub("_", raw.lower())


def school_db_name(school_id: str) -> str:
    """``S-0001`` -> ``school_s-0001`` (lower case, CouchDB's database-name alphabet)."""
    return SCHOOL_DB_PREFIX + _db_safe(school_id)


def inspections_db_name(county_id: str) -> str:
    return INSPECTIONS_DB_PREFIX + _db_safe(county_id)


def school_security(school_id: str) -> dict:
    return {"admins": {"names": [], "roles": []}, "members": {"names": [], "roles": [f"school:{school_id}"]}}


def inspections_security(county_id: str) -> dict:
    return {"admins": {"names": [], "roles": []}, "members": {"names": [], "roles": [f"inspector:{county_id}"]}}


@dataclass
class ProvisionReport:
    """What one run changed (empty lists on a re-run that found everything right)."""

    created_dbs: list[str] = field(default_factory=list)
    security_set: list[str] = field(default_factory=list)
    design_updated: list[str] = field(default_factory=list)
    docs_written: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # schools left alone, with the reason

    @property
    def changed(self) -> bool:
        return bool(self.created_dbs or self.security_set or self.design_updated or self.docs_written)

    def merge(self, other: ProvisionReport) -> None:
        for name in ("created_dbs", "security_set", "design_updated", "docs_written", "refused"):
            getattr(self, name).extend(getattr(other, name))


def _strip_rev(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "_rev"}


def ensure_doc(db: Database, wanted: dict) -> bool:
    """Write ``wanted`` unless the stored doc equals it already; returns whether it wrote."""
    for _attempt in range(3):
        current = db.get_or_none(wanted["_id"])
        if current is not None and _strip_rev(current) == wanted:
            return False
        doc = dict(wanted)
        if current is not None:
            doc["_rev"] = current["_rev"]
        try:
            db.put(doc)
            return True
        except Conflict:
            continue  # someone else wrote it meanwhile: look again
    raise Conflict(409, "conflict", f"could not write {wanted['_id']} after 3 tries")


def _forget_checkpoint(db: Database) -> None:
    """A database just created is read from its start, whatever checkpoint an earlier
    database of that name left in ops: pouchdb-server's sequences restart at 0, and the new
    database could pass the old position before the worker noticed it was ahead."""
    from sync.checkpoint import checkpoint_doc_name  # sync.checkpoint imports this module

    ops = db.client.db(OPS_DB)
    stale = ops.get_local(checkpoint_doc_name(db.name))
    if stale is not None:
        ops.delete(stale["_id"], stale["_rev"])


def ensure_db(db: Database, security: dict, design_docs: Iterable[dict], report: ProvisionReport, *,
              q: int | None = None) -> None:
    """Create ``db`` (with ``q`` shards; an existing one keeps its own) and bring its
    ``_security`` and design documents up to date."""
    if db.create(exist_ok=True, q=q):
        report.created_dbs.append(db.name)
        _forget_checkpoint(db)
    current = db.get_security()
    if current != security:
        db.put_security(security)
        report.security_set.append(db.name)
    for design in design_docs:
        if ensure_doc(db, design):
            report.design_updated.append(f"{db.name}/{design['_id']}")


def provision_core(client: CouchClient) -> ProvisionReport:
    report = ProvisionReport()
    for name, design in ((REGISTRY_DB, REGISTRY_DESIGN), (REPORTS_DB, REPORTS_DESIGN), (OPS_DB, OPS_DESIGN)):
        ensure_db(client.db(name), ADMIN_ONLY_SECURITY, [design], report, q=CORE_DB_Q[name])
    return report


def device_config(school_id: str, window_days: int = DEFAULT_WINDOW_DAYS) -> dict:
    """The config document the service keeps in a school database for its devices."""
    return {"_id": "config:device", "type": "config", "school_id": school_id, "window_days": window_days}


class SharedDatabase(Exception):
    """Two school ids map to one database name (``XSS001`` and ``xss001``): provisioning the
    second would hand the first school's database, and its devices' access, to the second."""


def _owner_of(db: Database) -> str | None:
    """The school a school database was provisioned for (its ``_security`` member role)."""
    if not db.exists():
        return None
    roles = ((db.get_security() or {}).get("members") or {}).get("roles") or []
    owners = [role.split(":", 1)[1] for role in roles if role.startswith("school:")]
    return owners[0] if owners else None


def provision_school(client: CouchClient, school_id: str, *, window_days: int = DEFAULT_WINDOW_DAYS) -> ProvisionReport:
    """Create or upgrade one school's database. Raises ``SharedDatabase`` when the database
    already belongs to another school id (the registry import refuses such pairs; this guards
    registries imported before it did)."""
    report = ProvisionReport()
    db = client.db(school_db_name(school_id))
    owner = _owner_of(db)
    if owner is not None and owner != school_id:
        raise SharedDatabase(f"school {school_id}: its database {db.name} belongs to school {owner}; "
                             "rename one of the two ids")
    ensure_db(db, school_security(school_id), [school_design(school_id)], report, q=SCHOOL_DB_Q)
    if ensure_doc(db, device_config(school_id, window_days)):
        report.docs_written.append(f"{db.name}/config:device")
    return report


def provision_inspections(client: CouchClient, county_id: str) -> ProvisionReport:
    report = ProvisionReport()
    ensure_db(client.db(inspections_db_name(county_id)), inspections_security(county_id),
              [inspections_design(county_id)], report, q=INSPECTIONS_DB_Q)
    return report


def registry_ids(client: CouchClient, doc_type: str) -> list[str]:
    """Ids (without the ``<type>:`` prefix) of every registry doc of one type."""
    rows = client.db(REGISTRY_DB).view("registry", "by_type", key=doc_type, reduce=False)["rows"]
    return [row["id"].split(":", 1)[1] for row in rows]


def provision_all(client: CouchClient, *, progress: Callable[[int, int], None] | None = None) -> ProvisionReport:
    """Core databases, then every school and county database named in the registry."""
    report = provision_core(client)
    schools = registry_ids(client, "school")
    counties = registry_ids(client, "county")
    total = len(schools) + len(counties)
    for done, school_id in enumerate(schools, 1):
        try:
            report.merge(provision_school(client, school_id))
        except SharedDatabase as clash:
            report.refused.append(str(clash))  # the others still get their databases
        if progress:
            progress(done, total)
    for done, county_id in enumerate(counties, len(schools) + 1):
        report.merge(provision_inspections(client, county_id))
        if progress:
            progress(done, total)
    return report
