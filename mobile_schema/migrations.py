"""Migrations from every schema version a device may still run to the latest.

Each step takes a document at version N (a deep copy, free to modify) and
returns it at version N+1, carrying the per-field edit clocks along so the
merge still sees which edits happened when.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .errors import MigrationError, UnknownForm, UnknownSchemaVersion
from .forms import FORMS

Step = Callable[[dict[str, Any]], dict[str, Any]]

_NEW_ABSENCES = ("absent_illness", "absent_fever", "absent_other")


def _daily_health_1_to_2(doc: dict[str, Any]) -> dict[str, Any]:
    """A single ``absent`` count becomes ``absent_other``; illness and fever start at 0.

    The clock of ``absent`` goes to all three new fields: they are one edit.
    """
    data = doc.get("data")
    if not isinstance(data, dict):
        raise MigrationError(f"{doc.get('_id')}: data is not an object")
    absent = data.pop("absent", 0)
    data["absent_illness"] = 0
    data["absent_fever"] = 0
    data["absent_other"] = absent
    clocks = (doc.get("meta") or {}).get("clocks")
    if isinstance(clocks, dict) and "absent" in clocks:
        clock = clocks.pop("absent")
        for name in _NEW_ABSENCES:
            clocks[name] = copy.deepcopy(clock)
    return doc


#: (form, from_version) -> step to from_version + 1
STEPS: dict[tuple[str, int], Step] = {
    ("daily_health", 1): _daily_health_1_to_2,
}


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a new document at the form's latest schema_version (an unchanged copy if already there).

    Raises ``UnknownForm`` when ``doc["form"]`` is not a known form,
    ``UnknownSchemaVersion`` when its schema_version is not one of the form's
    versions (for example a newer app), and ``MigrationError`` when a step
    cannot apply. The input is never modified.
    """
    form = FORMS.get(doc["form"]) if isinstance(doc.get("form"), str) else None
    if form is None:
        raise UnknownForm(doc.get("form"))
    version = doc.get("schema_version")
    if version is True or version is False or not isinstance(version, int) or version not in form.versions:
        raise UnknownSchemaVersion(form.name, version)
    out = copy.deepcopy(doc)
    while version < form.latest_version:
        step = STEPS.get((form.name, version))
        if step is None:
            raise MigrationError(f"no migration for {form.name} from version {version}")
        out = step(out)
        version += 1
        out["schema_version"] = version
    return out
