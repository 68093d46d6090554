"""Admin pages under ``/admin`` (server-rendered; forms carry the CSRF token).

The pages call the same services as the API. A page that creates a password shows it in
its answer once (never through a redirect or a flash message, which would keep it in the
session cookie).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request

from server.admin.databases import DEFAULT_DOC_THRESHOLD, SchoolDatabases, school_ids
from server.admin.devices import DeviceAdmin
from server.admin.errors import AdminError, ImportRejected
from server.admin.registry import RegistryAdmin, import_columns
from server.admin.replications import Replications
from server.admin.sync_health import SyncHealth
from server.admin.users import ROLE_KINDS, UserAdmin
from server.api import UPLOAD_MAX_BYTES, body_limit
from server.audit import AuditLog, display_json
from server.auth import check_csrf, login_required, require
from server.couchdb import get_couch
from server.spreadsheet import parse_count

bp = Blueprint("admin_pages", __name__, url_prefix="/admin", template_folder="templates")
bp.add_app_template_filter(display_json, "audit_json")  # Jinja's tojson writes Chinese as \uXXXX


IMPORT_KINDS = (("prefectures", "市州 Prefectures"), ("counties", "县 Counties"), ("schools", "学校 Schools"))


# Actions that lose something or lock someone out: asked once more before they happen. The
# buttons carry the question (data-confirm: a <dialog>, server/static/admin-confirm.js); a post
# without ``confirmed=1`` (no script, or a form from elsewhere) gets a confirmation page instead.
CONFIRMATIONS = {
    "revoke": "吊销设备 {device}?它将不能再同步。 Revoke device {device}? It will no longer be able to sync.",
    "roster_remove": "把 {username} 从本校名册中移除?他/她将不能再为本校填报。 "
                     "Remove {username} from this school's roster? They will no longer report for it.",
    "close": "关闭本校?关闭后不再计入应报学校。 Close this school? It will no longer be expected to report.",
    "reprocess": "从头重新处理本校数据库?同步程序会重新读取全部文档。 "
                 "Reprocess this school's database from the start? The worker reads every document again.",
    "deactivate": "停用账号 {name}?该用户将不能登录或同步。 Deactivate {name}? They can no longer sign in or sync.",
    "reset_password": "重置 {name} 的密码?旧密码立即失效。 Reset {name}'s password? The old one stops working at once.",
    "delete": "删除复制任务 {id}? Delete the replication {id}?",
}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def confirm_question(action: str, /, **values: str) -> str:
    """The question asked before ``action`` (values fill its blanks; autoescaped where shown)."""
    return CONFIRMATIONS[action].format_map(_Blank(values))


bp.add_app_template_global(confirm_question, "confirm_question")


def _confirmation_page(**values: str):
    """The confirmation page when this post is a destructive action not yet confirmed, else None."""
    action = request.form.get("action", "")
    if action not in CONFIRMATIONS or request.form.get("confirmed") == "1":
        return None
    fields = [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "confirmed")]
    question = confirm_question(action, **(dict(fields) | values))
    return render_template("admin/confirm.html", question=question, fields=fields, back=request.full_path.rstrip("?"))


def _admin() -> tuple:
    require(lambda user: user.is_admin, "admins only")
    couch = get_couch()
    return g.user.name, couch, AuditLog(couch)


def _int(name: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(request.args.get(name, default))))
    except ValueError:
        return default


def _text(name: str, limit: int = 200) -> str:
    return (request.form.get(name) or "").strip()[:limit]


@bp.route("/")
@login_required
def index():
    _who, couch, audit = _admin()
    counts = {row["key"]: row["value"] for row in couch.db("registry").view(
        "registry", "by_type", group=True)["rows"]}
    return render_template("admin/index.html", counts=counts, recent=audit.entries(limit=15))


@bp.route("/schools", methods=["GET", "POST"])
@body_limit(UPLOAD_MAX_BYTES)
@login_required
def schools():
    who, couch, audit = _admin()
    registry = RegistryAdmin(couch, audit)
    result, errors, message, status = None, None, None, 200
    filename, dry_run = None, request.form.get("dry_run") == "1"
    if request.method == "POST":
        check_csrf()
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            message, status = "请选择 CSV 或 XLSX 文件 Choose a CSV or XLSX file", 422
        else:
            filename = upload.filename
            try:
                result = registry.import_file(who=who, filename=upload.filename, data=upload.read(),
                                              kind=request.form.get("kind") or None, dry_run=dry_run).as_dict()
            except AdminError as exc:
                found = exc.errors or {}
                errors, status = found.get("rows") or found.get("documents"), exc.status
                message = None if isinstance(exc, ImportRejected) else exc.message  # the table says it
    county_id = request.args.get("county_id") or None
    q = request.args.get("q") or None
    offset = _int("offset", 0, 0, 10**7)
    listing = registry.schools(county_id=county_id, q=q, limit=100, offset=offset)
    return render_template("admin/schools.html", listing=listing, result=result, errors=errors, filename=filename,
                           dry_run=dry_run, kinds=IMPORT_KINDS, message=message, columns=import_columns(),
                           county_id=county_id or "", q=q or "", offset=offset), status


@bp.route("/schools/<school_id>", methods=["GET", "POST"])
@login_required
def school(school_id: str):
    who, couch, audit = _admin()
    registry = RegistryAdmin(couch, audit)
    users = UserAdmin(couch, audit)
    devices = DeviceAdmin(couch, audit)
    dbs = SchoolDatabases(couch, audit)
    try:
        doc = registry.school(school_id)
    except AdminError:
        from flask import abort

        abort(404)
    message, status = None, 200
    if request.method == "POST":
        check_csrf()
        action = request.form.get("action")
        confirm = _confirmation_page()
        if confirm is not None:
            return confirm
        try:
            if action == "edit":
                changes = {"name": _text("name"), "opened": _text("opened") or None}
                if _text("county_id"):
                    changes["county_id"] = _text("county_id")
                registry.update_school(who=who, school_id=school_id, changes=changes)
            elif action == "close":
                registry.update_school(who=who, school_id=school_id, changes={"closed": _text("closed") or None})
            elif action == "reopen":
                registry.update_school(who=who, school_id=school_id, changes={"closed": None})
            elif action == "roster_add":
                users.change_roster(who=who, school_id=school_id, remove=[], add=[
                    {"username": _text("username"), "display_name": _text("display_name") or None}])
            elif action == "roster_remove":
                users.change_roster(who=who, school_id=school_id, add=[], remove=[_text("username")])
            elif action == "revoke":
                devices.revoke(who=who, school_id=school_id, device=_text("device"))
            elif action == "provision":
                window = _text("window_days")
                try:
                    days = parse_count(window, maximum=3650) if window else None
                except ValueError as exc:
                    raise AdminError(f"window_days {exc}") from exc
                dbs.provision(who=who, school_id=school_id, window_days=days)
            elif action == "reprocess":
                dbs.reprocess(who=who, school_id=school_id)
            else:
                raise AdminError(f"unknown action {action!r}")
            message = "done"
        except AdminError as exc:
            message, status = exc.message, exc.status
        doc = registry.school(school_id)
    return render_template("admin/school.html", school=registry.public_school(doc), roster=users.roster(school_id),
                           devices=devices.devices(school_id),
                           database=dbs.detail(school_id, threshold=DEFAULT_DOC_THRESHOLD),
                           message=message), status


@bp.route("/users", methods=["GET", "POST"])
@login_required
def users():
    who, couch, audit = _admin()
    admin = UserAdmin(couch, audit)
    created, message, status = None, None, 200
    if request.method == "POST":
        check_csrf()
        try:
            created = admin.create(who=who, name=_text("name", 100), kind=_text("kind", 40),
                                   scope=_text("scope", 64) or None, display_name=_text("display_name", 100) or None)
        except AdminError as exc:
            message, status = exc.message, exc.status
    kind = request.args.get("kind") or None
    q = request.args.get("q") or None
    listing = admin.list(kind=kind if kind in ROLE_KINDS else None, q=q, limit=200,
                         start_after=request.args.get("start_after") or None)
    return render_template("admin/users.html", listing=listing, created=created, message=message,
                           kinds=list(ROLE_KINDS), kind=kind or "", q=q or ""), status


@bp.route("/users/<name>", methods=["GET", "POST"])
@login_required
def user(name: str):
    who, couch, audit = _admin()
    admin = UserAdmin(couch, audit)
    try:
        person = admin.get(name)
    except AdminError:
        from flask import abort

        abort(404)
    password, message, status = None, None, 200
    if request.method == "POST":
        check_csrf()
        action = request.form.get("action")
        confirm = _confirmation_page(name=name)
        if confirm is not None:
            return confirm
        try:
            if action == "reset_password":
                password = admin.reset_password(who=who, name=name)["password"]
            elif action == "deactivate":
                admin.deactivate(who=who, name=name)
            elif action == "reactivate":
                password = admin.reactivate(who=who, name=name)["password"]
            elif action == "update":
                admin.update(who=who, name=name, display_name=_text("display_name", 100) or None)
            elif action == "revoke":
                DeviceAdmin(couch, audit).revoke(who=who, county_id=_text("county_id"), device=_text("device"))
            else:
                raise AdminError(f"unknown action {action!r}")
            message = "done"
        except AdminError as exc:
            message, status = exc.message, exc.status
        person = admin.get(name)
    history = audit.entries(target=f"user:{name}", limit=50)
    return render_template("admin/user.html", person=person, password=password, message=message,
                           history=history, devices=_inspector_devices_of(couch, audit, person)), status


def _inspector_devices_of(couch, audit: AuditLog, person: dict) -> list[dict]:
    """The devices an inspector enrolled (personal devices; an admin revokes a lost one here)."""
    counties = [role.split(":", 1)[1] for role in person.get("roles") or [] if role.startswith("inspector:")]
    devices = DeviceAdmin(couch, audit)
    return [{**d, "county_id": county_id} for county_id in counties
            for d in devices.inspector_devices(county_id) if d["enrolled_by"] == person.get("name")]


@bp.route("/sync-health")
@login_required
def sync_health():
    _admin()
    days = _int("days", 2, 0, 3650)
    county_id = request.args.get("county_id") or None
    report = SyncHealth(get_couch()).report(days=days, county_id=county_id)
    return render_template("admin/sync_health.html", report=report, days=days, county_id=county_id or "")


@bp.route("/databases")
@login_required
def databases():
    _who, couch, audit = _admin()
    threshold = _int("threshold", DEFAULT_DOC_THRESHOLD, 1, 10**9)
    county_id = request.args.get("county_id") or None
    offset = _int("offset", 0, 0, 10**7)
    ids = school_ids(couch, county_id)[offset:offset + 200]
    items = SchoolDatabases(couch, audit).overview(ids, threshold=threshold)
    return render_template("admin/databases.html", items=items, threshold=threshold, county_id=county_id or "",
                           offset=offset)


@bp.route("/replications", methods=["GET", "POST"])
@login_required
def replications():
    who, couch, audit = _admin()
    jobs = Replications(couch, current_app.config["SETTINGS"].couchdb_url, audit)
    message, status = None, 200
    if request.method == "POST":
        check_csrf()
        action = request.form.get("action")
        job_id = _text("id", 100)
        confirm = _confirmation_page()
        if confirm is not None:
            return confirm
        try:
            if action == "create":
                jobs.create(who=who, job_id=job_id, source=_text("source", 2000), target=_text("target", 2000),
                            continuous=request.form.get("continuous") == "1",
                            create_target=request.form.get("create_target") == "1")
            elif action == "pause":
                jobs.pause(who=who, job_id=job_id)
            elif action == "resume":
                jobs.resume(who=who, job_id=job_id)
            elif action == "delete":
                jobs.delete(who=who, job_id=job_id)
            else:
                raise AdminError(f"unknown action {action!r}")
            message = "done"
        except AdminError as exc:
            message, status = exc.message, exc.status
    return render_template("admin/replications.html", jobs=jobs.jobs(), scheduler=couch.has("_scheduler"),
                           message=message), status


@bp.route("/audit")
@login_required
def audit():
    _who, couch, audit_log = _admin()
    filters = {k: (request.args.get(k) or None) for k in ("who", "action", "target")}
    entries = audit_log.entries(limit=_int("limit", 200, 1, 5000), **filters)
    return render_template("admin/audit.html", entries=entries, filters=filters,
                           csv_args={k: v for k, v in filters.items() if v})
