"""Admins set a county's early-warning thresholds (docs/early-warning.md).

    GET /api/v1/admin/early-warning/<county>    the thresholds in force and where they come from
    PUT /api/v1/admin/early-warning/<county>    {c1_threshold, c2_threshold, c3_threshold, min_sd,
                                                 min_count, min_baseline_days, county_min_count,
                                                 alert_methods: ["C1", "C2", "C3"]}
                                                 (any subset; ``default`` sets every county's default)

Stored in the registry as ``early_warning_settings:<county>``; the worker reads it (cached for
a few minutes) at its next recompute. Each change is audited.
"""

from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate

from server.admin.errors import AdminError
from server.admin.routes import admins_only, blp, change_arguments, services
from server.auth import login_required
from server.early_warning.service import EarlyWarningService
from server.summaries import summary_service
from sync.early_warning import METHODS, SETTINGS_PREFIX
from sync.errors import Conflict
from sync.provision import REGISTRY_DB


class EarlyWarningSettingsSchema(Schema):
    c1_threshold = fields.Float(validate=validate.Range(min=0.5, max=20))
    c2_threshold = fields.Float(validate=validate.Range(min=0.5, max=20))
    c3_threshold = fields.Float(validate=validate.Range(min=0.5, max=50))
    min_sd = fields.Float(validate=validate.Range(min=0.1, max=100))
    min_count = fields.Integer(validate=validate.Range(min=1, max=10_000))
    min_baseline_days = fields.Integer(validate=validate.Range(min=2, max=7))
    county_min_count = fields.Integer(validate=validate.Range(min=1, max=100_000))
    alert_methods = fields.List(fields.String(validate=validate.OneOf(METHODS)),
                                validate=validate.Length(min=1, max=3))


class UnknownCounty(AdminError):
    status = 404


@blp.route("/early-warning/<county_id>", methods=["GET", "PUT"])
@login_required
@change_arguments(blp, EarlyWarningSettingsSchema)
def early_warning_settings(changes, county_id: str):
    """GET: a county's early-warning thresholds in force and their source (``default``: every
    county's default). PUT: change some of them. Admins only; audited."""
    who = admins_only()
    couch, audit = services()
    if county_id != "default" and county_id not in summary_service().snapshot().counties:
        raise UnknownCounty(f"no county {county_id!r} in the registry")
    service = EarlyWarningService(summary_service())
    if request.method == "GET":
        return service.settings_of(county_id)
    registry = couch.db(REGISTRY_DB)
    doc_id = f"{SETTINGS_PREFIX}{county_id}"
    before = registry.get_or_none(doc_id)
    doc = dict(before or {"_id": doc_id, "type": "early_warning_settings", "county_id": county_id})
    doc.update(changes or {})
    try:
        registry.put(doc)
    except Conflict as exc:
        raise AdminError("the settings changed meanwhile; try again") from exc
    audit.record(who=who, action="early_warning_settings", target=f"county/{county_id}",
                 before={k: v for k, v in (before or {}).items() if not k.startswith("_")},
                 after=changes or None, county_id=county_id if county_id != "default" else None)
    return service.settings_of(county_id)
