"""A device's own status document, written by the app (one per device account)."""

from __future__ import annotations

from ..fields import Text, Timestamp, WholeNumber
from ..meta import CLOCK_OFFSET_LIMIT_MS
from .base import Form, FormSchema, check_form_definition, meta

DEVICE_PATTERN = r"[A-Za-z0-9_-]{1,100}"


class DeviceStatusV1(FormSchema):
    """Device status, version 1 (the only one)."""

    device = Text(required=True, min_length=1, max_length=100, metadata=meta("Device", "设备"))
    school_id = Text(required=True, min_length=1, max_length=64, metadata=meta("School", "学校"))
    app_version = Text(required=True, min_length=1, max_length=40, metadata=meta("App version", "应用版本"))
    last_sync_at = Timestamp(required=True, allow_none=True, metadata=meta("Last sync", "上次同步"))
    waiting_count = WholeNumber(
        required=True, minimum=0, maximum=10**6, metadata=meta("Waiting to sync", "待同步", unit="documents")
    )
    storage_used_bytes = WholeNumber(
        required=True, minimum=0, maximum=2**53 - 1, metadata=meta("Storage used", "已用存储", unit="bytes")
    )
    clock_offset_ms = WholeNumber(
        required=True,
        allow_none=True,
        minimum=-CLOCK_OFFSET_LIMIT_MS,
        maximum=CLOCK_OFFSET_LIMIT_MS,
        metadata=meta(
            "Clock offset",
            "时钟偏差",
            unit="ms",
            help_en="Server clock minus device clock",
            help_zh="服务器时间减设备时间",
        ),
    )
    last_error = Text(required=True, allow_none=True, max_length=2000, metadata=meta("Last error", "最近错误"))


DEVICE_STATUS = Form(
    name="device_status",
    doc_type="device_status",
    versions={1: DeviceStatusV1},
    id_pattern=r"device_status:(" + DEVICE_PATTERN + ")",
    id_example="device_status:{device}",
    id_group="device",
    has_date=False,
)
check_form_definition(DEVICE_STATUS)
