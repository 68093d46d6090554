"""Early warnings (EARS C1/C2/C3, docs/early-warning.md) as JSON, CSV and XLSX.

    GET /api/v1/early-warnings?county=<id>&from=&to=     alarms of a county (or ?prefecture=<id>,
                                                         or neither: the province) with the roll-up
                                                         of schools in early warning per county and
                                                         prefecture; ?format=csv|xlsx
    GET /api/v1/early-warnings/series?school=<id>&from=&to=   one school's (or ?county=<id>) series
                                                         and statistics per day, for charting
"""

from __future__ import annotations

from marshmallow import ValidationError, fields, validates_schema

from server.api import Blueprint, abort
from server.auth import login_required, require, require_county
from server.early_warning.service import EarlyWarningService
from server.summaries import local_today, send_answer, summary_service
from server.summaries.export import COLUMN_LABELS, SHEET_LABELS, VALUE_LABELS
from server.summaries.registry import PROVINCE
from server.summaries.schemas import DateRangeArgs
from server.summaries.service import UnknownArea

blp = Blueprint("early_warning", __name__, url_prefix="/api/v1/early-warnings",
                description="Early warnings: EARS C1/C2/C3 on illness, fever and respiratory counts")

# Headers and codes of the exports, in both languages.
SHEET_LABELS.update({"warnings": ("早期预警", "Early warnings"), "series": ("预警序列", "Early-warning series")})
COLUMN_LABELS.update({
    "scope": ("范围", "Scope"), "signal": ("信号", "Signal"), "method": ("方法", "Method"),
    "observed": ("观察值", "Observed"), "statistic": ("统计量", "Statistic"), "mean": ("基线均值", "Baseline mean"),
    "sd": ("基线标准差", "Baseline SD"), "sd_used": ("采用标准差(含下限)", "SD used (with floor)"),
    "baseline_days": ("基线天数", "Baseline days"), "text_zh": ("说明(中文)", "Text (Chinese)"),
    "text_en": ("说明(英文)", "Text (English)"), "county_name": ("县", "County"),
    "schools_in_warning": ("预警学校数", "Schools in early warning"),
    "county_warning_days": ("全县预警天数", "Days the county was in early warning"),
    "counties_in_warning": ("有预警的县数", "Counties with early warnings"),
})

VALUE_LABELS.update({  # the alert list's rule codes
    "early_illness": ("早期预警:因病缺勤", "Early warning: illness absences"),
    "early_fever": ("早期预警:发热", "Early warning: fever"),
    "early_respiratory": ("早期预警:呼吸道症状", "Early warning: respiratory symptoms"),
})


def early_warning_service() -> EarlyWarningService:
    return EarlyWarningService(summary_service())


class WarningsArgs(DateRangeArgs):
    county = fields.String(load_default=None)
    prefecture = fields.String(load_default=None)

    @validates_schema
    def one_scope(self, data, **_kwargs):
        if data.get("county") and data.get("prefecture"):
            raise ValidationError("give county or prefecture, not both", "county")


class SeriesArgs(DateRangeArgs):
    school = fields.String(load_default=None)
    county = fields.String(load_default=None)

    @validates_schema
    def one_owner(self, data, **_kwargs):
        if bool(data.get("school")) == bool(data.get("county")):
            raise ValidationError("give exactly one of school or county", "school")


@blp.route("")
@login_required
@blp.arguments(WarningsArgs, location="query")
def list_warnings(args):
    """Alarms of a county, a prefecture or (neither given) the province over ``from``..``to``
    (default: the last 7 days), each with its method, statistic, baseline mean and SD, observed
    value, threshold and the sentence officers read; and schools in early warning per county
    and prefecture. CSV tables: ``warnings``, ``counties``, ``prefectures``."""
    if args.get("county"):
        level, area_id = "county", args["county"]
        require_county(area_id)
    elif args.get("prefecture"):
        level, area_id = "prefecture", args["prefecture"]
        require(lambda u: u.can_read_prefecture(area_id), f"you may not see prefecture {area_id}")
    else:
        level, area_id = PROVINCE, ""
        require(lambda u: u.is_province, "only province officers see the province")
    start, end = DateRangeArgs.resolve(args, local_today())
    try:
        answer = early_warning_service().warnings(level, area_id, start, end)
    except UnknownArea:
        abort(404, message=f"no {level} {area_id!r} in the registry")
    tables = {"warnings": answer["warnings"], "counties": answer["counties"], "prefectures": answer["prefectures"]}
    return send_answer(answer, tables, args, f"early-warnings-{level}-{area_id or 'all'}-{start}-{end}")


@blp.route("/series")
@login_required
@blp.arguments(SeriesArgs, location="query")
def series(args):
    """One school's (``school=``) or county's (``county=``) days with a report over the range:
    observed counts and rates per signal, each method's statistic, baseline and alarm."""
    service = early_warning_service()
    if args.get("school"):
        try:
            school = service.summaries.school(args["school"])
        except UnknownArea:
            require(lambda u: u.is_province, "you may not see that school")
            abort(404, message=f"no school {args['school']!r} in the registry")
        require_county(school.county_id)
        scope, owner = "school", school.id
    else:
        scope, owner = "county", args["county"]
        require_county(owner)
        if owner not in service.summaries.snapshot().counties:
            abort(404, message=f"no county {owner!r} in the registry")
    start, end = DateRangeArgs.resolve(args, local_today())
    answer = service.series(scope, owner, start, end)
    rows = [{"date": day["date"], "signal": name, "observed": value.get("observed"), "rate": value.get("rate"),
             **{f"{m}.{k}": r.get(k) for m, r in value.get("methods", {}).items()
                for k in ("statistic", "mean", "sd", "threshold", "alarm")}}
            for day in answer["days"] for name, value in day["signals"].items()]
    return send_answer(answer, {"series": rows}, args, f"early-warning-series-{scope}-{owner}-{start}-{end}")
