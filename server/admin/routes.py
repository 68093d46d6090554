"""The admin JSON API, ``/api/v1/admin/...`` (admins only), and officers' corrections.

Every URL answers GET (what it manages), so the access matrix can check each one for
every role; changes are POST/PUT/PATCH/DELETE on the same URLs. Each change is audited.
"""

from __future__ import annotations

from functools import wraps
from http import HTTPStatus

from flask import Response, current_app, g, jsonify, request

from server.admin.corrections import Corrections
from server.admin.databases import DEFAULT_DOC_THRESHOLD, SchoolDatabases, school_ids
from server.admin.devices import DeviceAdmin
from server.admin.errors import AdminError
from server.admin.registry import RegistryAdmin, import_columns
from server.admin.replications import Replications
from server.admin.schemas import (
    AdminDeviceList,
    AdminRoster,
    AdminSchool,
    AdminSchoolList,
    AdminUser,
    AdminUserList,
    AuditArgs,
    AuditRecordList,
    CorrectionArgs,
    DatabaseListArgs,
    ImportArgs,
    ImportCounts,
    ImportFile,
    NewReplication,
    NewUser,
    ProvisionArgs,
    ReplicationChange,
    ReplicationId,
    ReplicationJob,
    ReplicationList,
    ReportCorrection,
    ReportCorrectionList,
    RevokeArgs,
    RosterChange,
    SchoolChanges,
    SchoolListArgs,
    SyncHealthArgs,
    SyncHealthReport,
    ThresholdArgs,
    UserChange,
    UserListArgs,
)
from server.admin.sync_health import SyncHealth as SyncHealthService
from server.admin.sync_health import sync_health_csv
from server.admin.users import UserAdmin
from server.api import UPLOAD_MAX_BYTES, Blueprint, abort, body_limit, read_json_body
from server.audit import AuditLog, audit_csv
from server.auth import login_required, require
from server.couchdb import get_couch
from sync.errors import CouchUnavailable, NotFound

blp = Blueprint("admin", __name__, url_prefix="/api/v1/admin",
                description="Admin: registry, users, devices, school databases, sync health, replication, audit")
corrections_blp = Blueprint("corrections", __name__, url_prefix="/api/v1/schools",
                            description="County officers' audited corrections of school reports")


def error_response(status: int, message: str, errors=None):
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    if errors is not None:
        body["errors"] = errors
    return jsonify(body), status


for _bp in (blp, corrections_blp):
    _bp.register_error_handler(AdminError, lambda exc: error_response(exc.status, exc.message, exc.errors))
    _bp.register_error_handler(CouchUnavailable, lambda exc: error_response(503, "the database is unreachable"))
    _bp.register_error_handler(NotFound, lambda exc: error_response(404, "not found"))


def created_response(body: dict) -> Response:
    """A 201 answer that the URL's 200 response schema leaves alone (it is documented as an alt response)."""
    response = jsonify(body)
    response.status_code = 201
    return response


def change_arguments(bp: Blueprint, schema, **kwargs):
    """``bp.arguments`` for the writing methods of a URL that also answers GET: documented and
    parsed as usual, but a GET (which has no body) reaches the view with ``None`` instead."""
    def decorator(func):
        parsed = bp.arguments(schema, **kwargs)(func)

        @wraps(parsed)
        def view(*args, **kw):
            if request.method == "GET":
                return func(*args, None, **kw)
            return parsed(*args, **kw)

        return view

    return decorator


def admins_only() -> str:
    require(lambda user: user.is_admin, "admins only")
    return g.user.name


def services():
    couch = get_couch()
    audit = AuditLog(couch)
    return couch, audit


def _threshold(args) -> int:
    return args.get("threshold") or DEFAULT_DOC_THRESHOLD


# -- registry ---------------------------------------------------------------------------------

@blp.route("/registry/import", methods=["GET", "POST"])
@body_limit(UPLOAD_MAX_BYTES)
@login_required
@blp.arguments(ImportArgs, location="query")
@change_arguments(blp, ImportFile, location="files")
@blp.response(200, description="GET: per kind, the required and optional columns. POST: see ImportCounts")
@blp.alt_response(201, schema=ImportCounts, description="Never sent: the shape of a POST's 200 answer")
@blp.alt_response(413, description="The file is over 2 MB")
@blp.alt_response(422, description="Bad rows: errors.rows lists each with sheet, line and reason; nothing was written")
def registry_import(args, files):
    """GET: the columns an import file needs. POST: import prefectures, counties and schools (CSV/XLSX)."""
    who = admins_only()
    if request.method == "GET":
        return import_columns()
    upload = files.get("file")
    if upload is None:
        abort(422, message="send the file as multipart form field 'file'")
    couch, audit = services()
    result = RegistryAdmin(couch, audit).import_file(
        who=who, filename=upload.filename or "upload.csv", data=upload.read(), kind=args["kind"],
        dry_run=args["dry_run"])
    return ImportCounts().dump(dict(result.as_dict(), dry_run=args["dry_run"]))



@blp.route("/schools")
@login_required
@blp.arguments(SchoolListArgs, location="query")
@blp.response(200, AdminSchoolList)
def schools(args):
    """Schools of the registry (filter by county, open/closed, text), paged."""
    admins_only()
    couch, audit = services()
    return RegistryAdmin(couch, audit).schools(**args)


@blp.route("/schools/<school_id>", methods=["GET", "PATCH"])
@login_required
@change_arguments(blp, SchoolChanges)
@blp.response(200, AdminSchool)
def school(changes, school_id: str):
    """GET: one school. PATCH: edit name, county, opened; ``closed`` a date closes it, null reopens it."""
    who = admins_only()
    couch, audit = services()
    registry = RegistryAdmin(couch, audit)
    if request.method == "GET":
        return registry.public_school(registry.school(school_id))
    return registry.update_school(who=who, school_id=school_id, changes=changes or {})


@blp.route("/schools/<school_id>/roster", methods=["GET", "PATCH"])
@login_required
@change_arguments(blp, RosterChange)
@blp.response(200, AdminRoster)
def roster(change, school_id: str):
    """GET: the school's teachers. PATCH: add (accounts get the school's role) and remove teachers."""
    who = admins_only()
    couch, audit = services()
    RegistryAdmin(couch, audit).school(school_id)
    users = UserAdmin(couch, audit)
    if request.method == "GET":
        return users.roster(school_id)
    change = change or {"add": [], "remove": []}
    return users.change_roster(who=who, school_id=school_id, add=change["add"], remove=change["remove"])


# -- devices ----------------------------------------------------------------------------------

@blp.route("/schools/<school_id>/devices", methods=["GET"])
@login_required
@blp.response(200, AdminDeviceList)
def devices(school_id: str):
    """The school's devices with their last status (app version, last sync, waiting, clock offset, error)."""
    admins_only()
    couch, audit = services()
    RegistryAdmin(couch, audit).school(school_id)
    return {"school_id": school_id, "devices": DeviceAdmin(couch, audit).devices(school_id)}


@blp.route("/schools/<school_id>/devices/revocations", methods=["GET", "POST"])
@login_required
@change_arguments(blp, RevokeArgs)
@blp.response(200, AdminDeviceList)
def device_revocations(args, school_id: str):
    """GET: the school's revoked devices. POST ``{device}``: revoke it (its account is deleted)."""
    return _revocations(args, RegistryAdmin.school, DeviceAdmin.devices, school_id=school_id)


@blp.route("/counties/<county_id>/devices", methods=["GET"])
@login_required
@blp.response(200, AdminDeviceList)
def inspector_devices(county_id: str):
    """The county's inspectors' devices (each personal to the inspector who enrolled it)."""
    admins_only()
    couch, audit = services()
    RegistryAdmin(couch, audit).county(county_id)
    return {"county_id": county_id, "devices": DeviceAdmin(couch, audit).inspector_devices(county_id)}


@blp.route("/counties/<county_id>/devices/revocations", methods=["GET", "POST"])
@login_required
@change_arguments(blp, RevokeArgs)
@blp.response(200, AdminDeviceList)
def inspector_device_revocations(args, county_id: str):
    """GET: the county's revoked inspector devices. POST ``{device}``: revoke it (its account is
    deleted, and its signing key no longer counts)."""
    return _revocations(args, RegistryAdmin.county, DeviceAdmin.inspector_devices, county_id=county_id)


def _revocations(args, check_place, listed, **place: str) -> dict:
    """A school's (``school_id``) or a county's inspectors' (``county_id``) revoked devices;
    on POST, revoke ``args["device"]`` first. ``check_place`` raises 404 for an unknown place,
    ``listed`` lists the place's devices."""
    who = admins_only()
    couch, audit = services()
    (place_id,) = place.values()
    check_place(RegistryAdmin(couch, audit), place_id)
    admin = DeviceAdmin(couch, audit)
    if request.method == "POST":
        if not args:
            abort(422, message="name the device to revoke", errors={"json": {"device": ["required"]}})
        admin.revoke(who=who, device=args["device"], **place)
    return {**place, "devices": [d for d in listed(admin, place_id) if d["status"] == "revoked"]}


# -- school databases -------------------------------------------------------------------------

@blp.route("/schools/<school_id>/database", methods=["GET", "PUT"])
@login_required
@blp.arguments(ThresholdArgs, location="query")
@change_arguments(blp, ProvisionArgs)
def database(args, provision, school_id: str):
    """GET: size, doc count, conflicts pending, quarantined docs, worker lag and checkpoint, and
    whether security/validation/config are right. PUT: provision or re-provision (``window_days``)."""
    who = admins_only()
    couch, audit = services()
    RegistryAdmin(couch, audit).school(school_id)
    dbs = SchoolDatabases(couch, audit)
    if request.method == "PUT":
        window = (provision or {}).get("window_days")
        return {"provisioned": dbs.provision(who=who, school_id=school_id, window_days=window),
                "database": dbs.detail(school_id, threshold=_threshold(args))}
    return dbs.detail(school_id, threshold=_threshold(args))


@blp.route("/schools/<school_id>/database/checkpoint", methods=["GET", "DELETE"])
@login_required
def checkpoint(school_id: str):
    """GET: the worker's checkpoint in this database. DELETE: reprocess the database from the start."""
    who = admins_only()
    couch, audit = services()
    RegistryAdmin(couch, audit).school(school_id)
    dbs = SchoolDatabases(couch, audit)
    if request.method == "DELETE":
        return dbs.reprocess(who=who, school_id=school_id)
    detail = dbs.summary(school_id)
    if not detail["provisioned"]:
        return {"school_id": school_id, "db": detail["db"], "checkpoint": None}
    from sync.checkpoint import Checkpointer

    doc = Checkpointer(couch).stored(detail["db"]) or {}
    return {"school_id": school_id, "db": detail["db"],
            "checkpoint": {"since": doc.get("since"), "updated_at": doc.get("updated_at")} if doc else None}


@blp.route("/databases")
@login_required
@blp.arguments(DatabaseListArgs, location="query")
def databases(args):
    """AdminSchool databases (of a county, or all), biggest first; ``over_threshold`` keeps only those
    with more documents than ``threshold``."""
    admins_only()
    couch, audit = services()
    ids = school_ids(couch, args["county_id"])
    threshold = _threshold(args)
    if not args["over_threshold"]:
        ids = ids[args["offset"]:args["offset"] + args["limit"]]
    items = SchoolDatabases(couch, audit).overview(ids, threshold=threshold)
    if args["over_threshold"]:
        items = [i for i in items if i["over_threshold"]][args["offset"]:args["offset"] + args["limit"]]
    return {"threshold": threshold, "databases": items}


# -- users ------------------------------------------------------------------------------------

@blp.route("/users", methods=["GET", "POST"])
@login_required
@blp.arguments(UserListArgs, location="query")
@change_arguments(blp, NewUser)
@blp.response(200, AdminUserList)
@blp.alt_response(201, schema=AdminUser, description="The new account (with its password, shown once)")
def users(args, new):
    """GET: people's accounts (not devices). POST: create a teacher, inspector, officer or admin."""
    who = admins_only()
    couch, audit = services()
    admin = UserAdmin(couch, audit)
    if request.method == "POST":
        if not new:
            abort(422, message="give name and kind", errors={"json": {"name": ["required"], "kind": ["required"]}})
        created = admin.create(who=who, **new)
        return created_response(AdminUser().dump(created))
    return admin.list(kind=args["kind"], scope=args["scope"], q=args["q"],
                      include_deactivated=not args["active_only"], limit=args["limit"],
                      start_after=args["start_after"])


@blp.route("/users/<name>", methods=["GET", "PATCH"])
@login_required
@change_arguments(blp, UserChange)
@blp.response(200, AdminUser)
def user(change, name: str):
    """GET: one account. PATCH: display name, role (kind + scope), ``reset_password`` or ``password``,
    ``active: false`` (deactivate) or ``true`` (reactivate). A new password is answered once."""
    who = admins_only()
    couch, audit = services()
    admin = UserAdmin(couch, audit)
    if request.method == "GET":
        return admin.get(name)
    change = change or {}
    result = admin.get(name)
    if change.get("active") is False:
        result = admin.deactivate(who=who, name=name)
    elif change.get("active") is True and result["deactivated"]:
        result = admin.reactivate(who=who, name=name)
    if "display_name" in change or "kind" in change:
        result = dict(admin.update(who=who, name=name, display_name=change.get("display_name"),
                                   kind=change.get("kind"), scope=change.get("scope")),
                      **({"password": result["password"]} if "password" in result else {}))
    if change.get("reset_password") or change.get("password"):
        result = admin.reset_password(who=who, name=name, password=change.get("password"))
    return result


# -- sync health ------------------------------------------------------------------------------

@blp.route("/sync-health")
@login_required
@blp.arguments(SyncHealthArgs, location="query")
@blp.response(200, SyncHealthReport)
def sync_health(args):
    """Schools and devices not synced for ``days`` days (never synced first, then the longest
    silence), with the last error a device reported."""
    admins_only()
    return SyncHealthService(get_couch()).report(days=args["days"], county_id=args["county_id"])


@blp.route("/sync-health.csv")
@login_required
@blp.arguments(SyncHealthArgs, location="query")
@blp.response(200, description="CSV: one row per school, then one per device")
def sync_health_export(args):
    """The same as ``sync-health``, as CSV."""
    admins_only()
    report = SyncHealthService(get_couch()).report(days=args["days"], county_id=args["county_id"])
    return Response(sync_health_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=sync-health-{args['days']}d.csv"})


# -- replication ------------------------------------------------------------------------------

def _replications() -> Replications:
    couch, audit = services()
    return Replications(couch, current_app.config["SETTINGS"].couchdb_url, audit)


@blp.route("/replications", methods=["GET", "POST", "PATCH", "DELETE"])
@login_required
@blp.response(200, ReplicationList)
@blp.alt_response(201, schema=ReplicationJob, description="The job created")
def replications():
    """GET: ``_replicator`` jobs with their state. POST: create one. PATCH ``{id, paused}``:
    pause or resume. DELETE ``?id=``: delete it."""
    from marshmallow import ValidationError

    who = admins_only()
    jobs = _replications()
    try:
        if request.method == "POST":
            new = NewReplication().load(read_json_body() or {})
            return created_response(ReplicationJob().dump(jobs.create(
                who=who, job_id=new["id"], source=new["source"], target=new["target"],
                continuous=new["continuous"], create_target=new["create_target"])))
        if request.method == "PATCH":
            change = ReplicationChange().load(read_json_body() or {})
            if change["paused"]:
                jobs.pause(who=who, job_id=change["id"])
            else:
                jobs.resume(who=who, job_id=change["id"])
        elif request.method == "DELETE":
            jobs.delete(who=who, job_id=ReplicationId().load(request.args.to_dict())["id"])
    except ValidationError as exc:
        abort(422, message="invalid request", errors={"json": exc.messages})
    return {"jobs": jobs.jobs(), "scheduler": get_couch().has("_scheduler")}


# -- audit ------------------------------------------------------------------------------------

@blp.route("/audit")
@login_required
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditRecordList)
def audit_log(args):
    """Admin actions, newest first (``action`` and ``target`` match as prefixes)."""
    admins_only()
    return {"entries": AuditLog(get_couch()).entries(**args)}


@blp.route("/audit.csv")
@login_required
@blp.arguments(AuditArgs, location="query")
@blp.response(200, description="CSV of the audit log")
def audit_export(args):
    """The audit log as CSV."""
    admins_only()
    entries = AuditLog(get_couch()).entries(**args)
    return Response(audit_csv(entries), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=audit.csv"})


# -- corrections ------------------------------------------------------------------------------

def _corrections() -> Corrections:
    couch, audit = services()
    return Corrections(couch, audit, utc_offset_minutes=current_app.config["SETTINGS"].utc_offset_minutes)


@corrections_blp.route("/<school_id>/reports/<day>/corrections", methods=["GET", "POST"])
@login_required
@change_arguments(corrections_blp, CorrectionArgs)
@corrections_blp.response(200, ReportCorrectionList)
@corrections_blp.alt_response(201, schema=ReportCorrection, description="The correction written")
@corrections_blp.alt_response(409, description="The report has unmerged conflicts, or changed meanwhile")
def corrections(args, school_id: str, day: str):
    """GET: the corrections made to a school's daily report (officers who may read the county).
    POST ``{changes, reason}``: correct fields, written by the service (the county's officer or an admin)."""
    from server.auth import require_county

    require(lambda user: user.is_officer, "only officers and admins see corrections")
    service = _corrections()
    school = service.school(school_id)
    county_id = school.get("county_id") or ""
    if request.method == "GET":
        require_county(county_id)
        return {"corrections": service.history(school_id, day)}
    require(lambda user: user.is_admin or county_id in user.counties,
            f"only an officer of county {county_id} may correct this school's reports")
    if not args:
        abort(422, message="give changes and reason", errors={"json": {"changes": ["required"]}})
    result = service.correct(officer=g.user.name, school_id=school_id, day=day, changes=args["changes"],
                             reason=args["reason"], county_id=county_id)
    return created_response(ReportCorrection().dump(result))
