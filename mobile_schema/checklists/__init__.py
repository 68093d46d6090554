"""Inspection checklists, kept as data files named ``<checklist_id>.v<version>.json``."""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from ..errors import UnknownChecklist

_FILE_NAME = re.compile(r"([a-z0-9_]+)\.v([0-9]+)\.json")


@functools.cache
def available_checklists() -> tuple[tuple[str, int], ...]:
    """Every ``(checklist_id, version)`` that has a data file, sorted."""
    found = []
    for entry in resources.files(__name__).iterdir():
        m = _FILE_NAME.fullmatch(entry.name)
        if m:
            found.append((m.group(1), int(m.group(2))))
    return tuple(sorted(found))


@functools.cache
def _load(checklist_id: str, version: int) -> str:
    return resources.files(__name__).joinpath(f"{checklist_id}.v{version}.json").read_text("utf-8")


def load_checklist(checklist_id: str, version: int) -> dict[str, Any]:
    """Return the checklist (a fresh dict). Raises ``UnknownChecklist`` if there is no such file."""
    if (checklist_id, version) not in available_checklists():
        raise UnknownChecklist(checklist_id, version)
    return json.loads(_load(checklist_id, version))


def checklist_item_ids(checklist_id: Any, version: Any) -> frozenset[str] | None:
    """The item ids of a checklist version, or None when it does not exist."""
    if (checklist_id, version) not in available_checklists():
        return None
    return frozenset(item["id"] for item in load_checklist(checklist_id, version)["items"])
