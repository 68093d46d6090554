"""Request and response shapes of the admin API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.admin.users import ROLE_KINDS

ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$")
KIND = validate.OneOf(list(ROLE_KINDS))


class ImportArgs(Schema):
    kind = fields.String(load_default=None, validate=validate.OneOf(
        ["prefectures", "counties", "schools", "prefecture", "county", "school"]),
        metadata={"description": "The kind of rows in a CSV (or a one-sheet XLSX) without a kind column"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "check only, write nothing"})


class ImportFile(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ImportFormat(Schema):
    prefectures = fields.Dict()
    counties = fields.Dict()
    schools = fields.Dict()


class ImportCounts(Schema):
    created = fields.Dict(keys=fields.String(), values=fields.Integer())
    updated = fields.Dict(keys=fields.String(), values=fields.Integer())
    unchanged = fields.Dict(keys=fields.String(), values=fields.Integer())
    dry_run = fields.Boolean()


class SchoolListArgs(Schema):
    county_id = fields.String(load_default=None, validate=ID)
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "closed"]))
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class AdminSchool(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    county_id = fields.String(allow_none=True)
    prefecture_id = fields.String(allow_none=True)
    opened = fields.String(allow_none=True)
    closed = fields.String(allow_none=True)


class AdminSchoolList(Schema):
    total = fields.Integer()
    schools = fields.List(fields.Nested(AdminSchool))


class SchoolChanges(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    county_id = fields.String(validate=ID)
    opened = fields.Date()
    closed = fields.Date(allow_none=True, metadata={"description": "a date closes the school, null reopens it"})


class RosterTeacher(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=100))
    display_name = fields.String(load_default=None, validate=validate.Length(max=100))


class AdminRoster(Schema):
    school_id = fields.String()
    teachers = fields.List(fields.Nested(RosterTeacher))


class RosterChange(Schema):
    add = fields.List(fields.Nested(RosterTeacher), load_default=list, validate=validate.Length(max=500))
    remove = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=list,
                         validate=validate.Length(max=500))


class AdminDevice(Schema):
    device = fields.String()
    label = fields.String(allow_none=True)
    status = fields.String()
    enrolled_by = fields.String(allow_none=True)
    enrolled_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)
    key_registered = fields.Boolean(metadata={"description": "the device registered a signing key (docs/relay.md)"})
    key_registered_at = fields.String(allow_none=True)
    has_status = fields.Boolean()
    app_version = fields.String(allow_none=True)
    last_sync_at = fields.String(allow_none=True)
    last_sync_server_time = fields.String(allow_none=True)
    waiting_count = fields.Integer(allow_none=True)
    storage_used_bytes = fields.Integer(allow_none=True)
    clock_offset_ms = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)


class AdminDeviceList(Schema):
    school_id = fields.String()
    county_id = fields.String(metadata={"description": "for a county's inspector devices"})
    devices = fields.List(fields.Nested(AdminDevice))


class RevokeArgs(Schema):
    device = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,120}$"))


class Revoked(Schema):
    device = fields.String()
    school_id = fields.String()
    status = fields.String()
    revoked_at = fields.String()


class ThresholdArgs(Schema):
    threshold = fields.Integer(load_default=None, validate=validate.Range(min=1, max=10**9),
                               metadata={"description": "warn above this many documents"})


class ProvisionArgs(Schema):
    window_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=3650),
                                 metadata={"description": "days of data devices keep (default: unchanged, or 60)"})


class DatabaseListArgs(ThresholdArgs):
    county_id = fields.String(load_default=None, validate=ID)
    over_threshold = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=5000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class UserListArgs(Schema):
    kind = fields.String(load_default=None, validate=KIND)
    scope = fields.String(load_default=None, validate=ID)
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    active_only = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    start_after = fields.String(load_default=None, validate=validate.Length(max=100))


class AdminUser(Schema):
    name = fields.String()
    roles = fields.List(fields.String())
    kind = fields.String(allow_none=True)
    scope = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    deactivated = fields.Boolean()
    created_at = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    password = fields.String(metadata={"description": "only in the answer that set it; shown once"})


class AdminUserList(Schema):
    users = fields.List(fields.Nested(AdminUser))
    next_after = fields.String(allow_none=True)


class NewUser(Schema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=100))
    kind = fields.String(required=True, validate=KIND)
    scope = fields.String(load_default=None, validate=ID,
                          metadata={"description": "school id (teacher), county id (inspector, county "
                                                   "officer) or prefecture id (prefecture officer)"})
    display_name = fields.String(load_default=None, validate=validate.Length(max=100))
    password = fields.String(load_default=None, validate=validate.Length(min=8, max=200),
                             metadata={"description": "leave out to have one generated"})


class UserChange(Schema):
    display_name = fields.String(validate=validate.Length(min=1, max=100))
    kind = fields.String(validate=KIND)
    scope = fields.String(allow_none=True, validate=ID)
    active = fields.Boolean(metadata={"description": "false deactivates (roles removed, password scrambled); "
                                                     "true reactivates with a new password"})
    reset_password = fields.Boolean(metadata={"description": "true: a new password, answered once"})
    password = fields.String(validate=validate.Length(min=8, max=200), metadata={"description": "set this password"})


class SyncHealthArgs(Schema):
    days = fields.Integer(load_default=2, validate=validate.Range(min=0, max=3650))
    county_id = fields.String(load_default=None, validate=ID)


class SyncHealthReport(Schema):
    days = fields.Integer()
    county_id = fields.String(allow_none=True)
    generated_at = fields.String()
    schools_checked = fields.Integer()
    schools = fields.List(fields.Dict())
    devices = fields.List(fields.Dict())


class ReplicationJob(Schema):
    id = fields.String()
    source = fields.String()
    target = fields.String()
    continuous = fields.Boolean()
    create_target = fields.Boolean()
    paused = fields.Boolean()
    state = fields.String(allow_none=True)
    state_time = fields.Raw(allow_none=True)
    state_reason = fields.Raw(allow_none=True)
    state_source = fields.String()


class ReplicationList(Schema):
    jobs = fields.List(fields.Nested(ReplicationJob))
    scheduler = fields.Boolean(metadata={"description": "whether the server has _scheduler/docs"})


class NewReplication(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"))
    source = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                           metadata={"description": "a database name on this server or an http(s) URL"})
    target = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    continuous = fields.Boolean(load_default=True)
    create_target = fields.Boolean(load_default=False)


class ReplicationChange(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    paused = fields.Boolean(required=True)


class ReplicationId(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=100))


class AuditArgs(Schema):
    who = fields.String(load_default=None, validate=validate.Length(max=100))
    action = fields.String(load_default=None, validate=validate.Length(max=100))
    target = fields.String(load_default=None, validate=validate.Length(max=200))
    since = fields.String(load_default=None, validate=validate.Regexp(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]*Z?)?$"))
    until = fields.String(load_default=None, validate=validate.Regexp(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]*Z?)?$"))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=10_000))


class AuditRecord(Schema):
    id = fields.String()
    who = fields.String(allow_none=True)
    at = fields.String(allow_none=True)
    action = fields.String(allow_none=True)
    target = fields.String(allow_none=True)
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    reason = fields.String(allow_none=True)


class AuditRecordList(Schema):
    entries = fields.List(fields.Nested(AuditRecord))


class CorrectionArgs(Schema):
    changes = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=100)), values=fields.Raw(),
                          required=True, validate=validate.Length(min=1, max=50),
                          metadata={"description": "field -> corrected value, e.g. {\"students_present\": 112}"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ReportCorrection(Schema):
    school_id = fields.String()
    date = fields.String()
    rev = fields.String()
    changed = fields.Dict()


class ReportCorrectionList(Schema):
    corrections = fields.List(fields.Nested(AuditRecord))
