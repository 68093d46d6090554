"""The forms devices fill, by name."""

from __future__ import annotations

from ..errors import UnknownForm
from .base import Form, FormSchema
from .daily_health import DAILY_HEALTH
from .device_status import DEVICE_STATUS
from .explanation import EXPLANATION
from .incident import INCIDENT
from .inspection import INSPECTION

FORMS: dict[str, Form] = {f.name: f for f in (DAILY_HEALTH, INCIDENT, INSPECTION, DEVICE_STATUS, EXPLANATION)}

#: Document types a device may write (each is the doc_type of a form).
DEVICE_TYPES = frozenset(f.doc_type for f in FORMS.values())
#: Document types only the server writes; a device writing one is refused.
SERVER_ONLY_TYPES = frozenset({"config", "conflict_notice", "correction", "request"})


def get_form(name: str) -> Form:
    """The form called ``name``. Raises ``UnknownForm``."""
    try:
        return FORMS[name]
    except (KeyError, TypeError) as exc:
        raise UnknownForm(name) from exc


__all__ = ["DEVICE_TYPES", "FORMS", "SERVER_ONLY_TYPES", "Form", "FormSchema", "get_form"]
