"""The bilingual message catalogue for validation issues.

One entry per issue code, each in English and Chinese. Placeholders are
``{name}`` and are filled from the issue's params; a param that is a
``{"en": ..., "zh": ...}`` dict (a field label) is shown in the message's
language, a list is joined with ", ". The same catalogue and the same
formatting rules are embedded in the generated ``validate_doc_update``
function and exported in the JSON Schema (``x-messages``), so devices, the
database and the service say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

LANGUAGES = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    # --- value types and bounds -------------------------------------------------
    "required": {"en": "is required", "zh": "必填"},
    "not_object": {"en": "must be an object", "zh": "必须是对象"},
    "not_integer": {"en": "must be a whole number", "zh": "必须是整数"},
    "not_boolean": {"en": "must be true or false", "zh": "必须是“是”或“否”"},
    "not_string": {"en": "must be text", "zh": "必须是文本"},
    "not_list": {"en": "must be a list", "zh": "必须是列表"},
    "negative": {"en": "must not be negative", "zh": "不能为负数"},
    "too_small": {"en": "must be at least {min}", "zh": "不能小于 {min}"},
    "too_large": {"en": "must be at most {max}", "zh": "不能大于 {max}"},
    "too_long": {"en": "must be at most {max} characters", "zh": "不能超过 {max} 个字符"},
    "empty": {"en": "must not be empty", "zh": "不能为空"},
    "too_few": {"en": "must have at least {min} entries", "zh": "至少需要 {min} 项"},
    "too_many": {"en": "must have at most {max} entries", "zh": "最多 {max} 项"},
    "invalid_choice": {"en": "must be one of: {choices}", "zh": "必须是以下之一:{choices}"},
    "bad_date": {
        "en": "must be a date written like 2020-03-02",
        "zh": "日期格式应为 2020-03-02",
    },
    "bad_timestamp": {
        "en": "must be a UTC time written like 2020-03-02T08:00:00.000Z",
        "zh": "时间格式应为 UTC 时间,如 2020-03-02T08:00:00.000Z",
    },
    "bad_clock": {
        "en": "must be an edit clock (wall time:counter:device)",
        "zh": "必须是编辑时钟(时间:计数:设备)",
    },
    "bad_code": {
        "en": "must be 1-64 letters, digits, underscores or hyphens",
        "zh": "只能包含 1-64 个字母、数字、下划线或连字符",
    },
    "bad_ref": {
        "en": "must be the pseudonymous student reference: 4-32 letters, digits or hyphens",
        "zh": "必须是学生化名编号:4-32 个字母、数字或连字符",
    },
    "privacy": {
        "en": "looks like a phone number or national ID number; record only the "
        "pseudonymous student reference, never personal identifiers",
        "zh": "疑似手机号或身份证号;只能填写学生化名编号,不得填写个人身份信息",
    },
    "unknown_field": {"en": "is not a field of this form", "zh": "不是此表单的字段"},
    # --- envelope ---------------------------------------------------------------
    "not_authorized": {
        "en": "this account may not write to this database",
        "zh": "此账号无权写入该数据库",
    },
    "server_only_type": {
        "en": "documents of type {type} are written by the server only",
        "zh": "类型为 {type} 的文档只能由服务器写入",
    },
    "unknown_type": {"en": "unknown document type {type}", "zh": "未知的文档类型 {type}"},
    "wrong_database": {
        "en": "documents of type {type} do not belong in this database",
        "zh": "类型为 {type} 的文档不属于此数据库",
    },
    "unknown_form": {
        "en": "unknown form {form} for documents of type {type}",
        "zh": "类型 {type} 没有名为 {form} 的表单",
    },
    "unknown_version": {
        "en": "version {version} of form {form} is not known here (newest is {latest}); update the app or the server",
        "zh": "表单 {form} 的版本 {version} 无法识别(最新为 {latest});请更新应用或服务器",
    },
    "bad_id": {"en": "must look like {example}", "zh": "格式应为 {example}"},
    "id_mismatch": {
        "en": "must be {expected}",
        "zh": "应为 {expected}",
    },
    "wrong_school": {
        "en": "school {school_id} is not this database's school {expected}",
        "zh": "学校 {school_id} 与本数据库的学校 {expected} 不符",
    },
    "wrong_county": {
        "en": "county {county_id} is not this database's county {expected}",
        "zh": "区县 {county_id} 与本数据库的区县 {expected} 不符",
    },
    "wrong_device": {
        "en": "device {device} is not the signed-in device account {expected}",
        "zh": "设备 {device} 不是当前登录的设备账号 {expected}",
    },
    "date_mismatch": {
        "en": "date {date} does not match the date in the id ({id_date})",
        "zh": "日期 {date} 与编号中的日期 {id_date} 不一致",
    },
    "future_date": {
        "en": "date {date} is in the future (latest allowed is {limit}); check the device clock",
        "zh": "日期 {date} 晚于允许的最晚日期 {limit};请检查设备时间",
    },
    "attachments_refused": {
        "en": "form {form} takes no attachments",
        "zh": "表单 {form} 不接受附件",
    },
    "deletion_refused": {
        "en": "documents here are deleted only by the service, never from a device",
        "zh": "此处的文档只能由服务器删除,不能在设备上删除",
    },
    "more_issues": {
        "en": "and {count} more",
        "zh": "另有 {count} 项",
    },
    "unknown_clock_field": {
        "en": "is an edit clock for a field this form does not have",
        "zh": "是表单中不存在的字段的编辑时钟",
    },
    # --- cross-field rules ------------------------------------------------------
    "present_gt_enrolled": {
        "en": "students present ({value}) is more than students enrolled ({limit})",
        "zh": "到校学生数({value})超过在册学生数({limit})",
    },
    "absences_mismatch": {
        "en": "absences add up to {value} but enrolled minus present is {expected}",
        "zh": "缺勤人数合计为 {value},但在册人数减到校人数为 {expected}",
    },
    "fever_gt_present": {
        "en": "fever at the temperature check ({value}) is more than students present ({limit})",
        "zh": "晨检发热人数({value})超过到校学生数({limit})",
    },
    "respiratory_gt_enrolled": {
        "en": "respiratory symptoms ({value}) is more than students enrolled ({limit})",
        "zh": "呼吸道症状人数({value})超过在册学生数({limit})",
    },
    "isolated_gt_present": {
        "en": "isolated on campus ({value}) is more than students present ({limit})",
        "zh": "校内隔离人数({value})超过到校学生数({limit})",
    },
    "hospital_gt_enrolled": {
        "en": "sent to hospital ({value}) is more than students enrolled ({limit})",
        "zh": "送医人数({value})超过在册学生数({limit})",
    },
    "suspected_gt_enrolled": {
        "en": "suspected cases ({value}) is more than students enrolled ({limit})",
        "zh": "疑似病例数({value})超过在册学生数({limit})",
    },
    "confirmed_gt_enrolled": {
        "en": "confirmed cases ({value}) is more than students enrolled ({limit})",
        "zh": "确诊病例数({value})超过在册学生数({limit})",
    },
    "contacts_gt_enrolled": {
        "en": "close contacts ({value}) is more than students enrolled ({limit})",
        "zh": "密切接触者数({value})超过在册学生数({limit})",
    },
    "returned_gt_enrolled": {
        "en": "returned from affected areas ({value}) is more than students enrolled ({limit})",
        "zh": "重点地区返校人数({value})超过在册学生数({limit})",
    },
    "staff_present_gt_total": {
        "en": "staff present ({value}) is more than staff in total ({limit})",
        "zh": "到岗教职工数({value})超过教职工总数({limit})",
    },
    "staff_fever_gt_present": {
        "en": "staff with fever ({value}) is more than staff present ({limit})",
        "zh": "发热教职工数({value})超过到岗教职工数({limit})",
    },
    "zero_report_nonzero": {
        "en": "a zero report needs every abnormal count at 0, but {label} is {value}",
        "zh": "零报告要求所有异常人数为 0,但“{label}”为 {value}",
    },
    "history_order": {
        "en": "status history must move forward, but {status} follows {previous}",
        "zh": "状态记录只能向前推进,但 {status} 出现在 {previous} 之后",
    },
    "history_end": {
        "en": "status history ends at {last} but the status is {status}",
        "zh": "状态记录最后为 {last},但当前状态为 {status}",
    },
    "unknown_checklist": {
        "en": "checklist {checklist_id} version {version} is not known",
        "zh": "检查清单 {checklist_id} 版本 {version} 不存在",
    },
    "unknown_item": {
        "en": "item {item_id} is not in checklist {checklist_id} version {version}",
        "zh": "检查项 {item_id} 不在检查清单 {checklist_id} 版本 {version} 中",
    },
    "duplicate_item": {
        "en": "item {item_id} is listed more than once",
        "zh": "检查项 {item_id} 重复出现",
    },
    "open_findings": {
        "en": "follow-up cannot be closed while finding for {item_id} is {status}",
        "zh": "问题 {item_id} 仍为 {status},不能结束跟踪",
    },
    # --- history (checked by the worker, not by the database) --------------------
    "deleted_submitted": {
        "en": "a submitted document must not be deleted from a device",
        "zh": "已提交的文档不能在设备上删除",
    },
    "status_backwards": {
        "en": "status must not move back from {old} to {new}",
        "zh": "状态不能从 {old} 退回到 {new}",
    },
    "identity_changed": {
        "en": "must not change from {old} to {new} in a later revision",
        "zh": "后续修改中不能从 {old} 改为 {new}",
    },
}

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def format_param(value: Any, lang: str) -> str:
    """Render one param the way the JavaScript validator does."""
    if isinstance(value, Mapping):
        return str(value.get(lang, value.get("en", "")))
    if isinstance(value, (list, tuple)):
        return ", ".join(format_param(v, lang) for v in value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) or (isinstance(value, int) and abs(value) > 2**53):
        return _js_number(float(value))
    return str(value)


def _js_number(value: float) -> str:
    """As JavaScript's ``String(number)`` writes it (ECMAScript Number::toString): the
    shortest digits that round-trip, placed as JavaScript places them (so 3.0417258687927592e16
    is "30417258687927590" where Python's int gives "30417258687927592", and 1e-5 is
    "0.00001" where Python's repr gives "1e-05")."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"  # -0 too
    sign = "-" if value < 0 else ""
    shortest = Decimal(repr(abs(value))).normalize()
    _sign, digit_tuple, exponent = shortest.as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = int(exponent) + k  # the decimal point sits after n digits
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def format_message(code: str, params: Mapping[str, Any] | None = None, lang: str = "en") -> str:
    """Format the message for ``code`` in ``lang`` ("en" or "zh").

    Raises ``KeyError`` for an unknown code and ``ValueError`` for an unknown
    language. A placeholder missing from params is left as written.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; use one of {LANGUAGES}")
    template = MESSAGES[code][lang]
    params = params or {}

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        return format_param(params[name], lang) if name in params else m.group(0)

    return _PLACEHOLDER.sub(fill, template)
