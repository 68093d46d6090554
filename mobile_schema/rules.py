"""Cross-field rules, declared as data.

Each form schema lists its rules in ``rules``. A rule is checked in Python by
``check(data, schema)``, described by ``spec(schema)`` for the JSON Schema
export (``x-rules``) and for the generated ``validate_doc_update`` function,
which interprets the same description. Issue fields returned here are
relative to ``data``.

A rule is checked whenever every field it ``reads`` is valid on its own, so a
simple field error elsewhere does not hide it (the app, the database and the
service report every issue at once). Each spec carries ``reads`` for that.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar

from marshmallow import Schema

from .checklists import checklist_item_ids
from .issues import Issue


def _label(schema: Schema, name: str) -> dict[str, str]:
    return dict(schema.fields[name].metadata.get("label", {"en": name, "zh": name}))


class Rule:
    kind: ClassVar[str]
    codes: tuple[str, ...] = ()

    @property
    def reads(self) -> tuple[str, ...]:  # pragma: no cover
        """The data fields the rule looks at: it is checked only when all of them are valid."""
        raise NotImplementedError

    def check(self, data: dict[str, Any], schema: Schema) -> list[Issue]:  # pragma: no cover
        raise NotImplementedError

    def spec(self, schema: Schema) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError


class LessOrEqual(Rule):
    """``data[field] <= data[limit]``; params value and limit."""

    kind = "le"

    def __init__(self, field: str, limit: str, *, code: str) -> None:
        self.field, self.limit, self.codes = field, limit, (code,)

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.field, self.limit)

    def check(self, data: dict[str, Any], schema: Schema) -> list[Issue]:
        value, limit = data.get(self.field), data.get(self.limit)
        if value is None or limit is None or value <= limit:
            return []
        return [Issue(self.field, self.codes[0], {"value": value, "limit": limit})]

    def spec(self, schema: Schema) -> dict[str, Any]:
        return {
            "rule": self.kind,
            "reads": list(self.reads),
            "field": self.field,
            "limit": self.limit,
            "code": self.codes[0],
        }


class SumEquals(Rule):
    """``sum(data[f] for f in fields) == data[minuend] - data[subtrahend]``.

    Reported on the first summed field; params value (the sum) and expected.
    """

    kind = "sum_eq"

    def __init__(self, fields: Sequence[str], minuend: str, subtrahend: str, *, code: str) -> None:
        self.fields, self.minuend, self.subtrahend = tuple(fields), minuend, subtrahend
        self.codes = (code,)

    @property
    def reads(self) -> tuple[str, ...]:
        return (*self.fields, self.minuend, self.subtrahend)

    def check(self, data: dict[str, Any], schema: Schema) -> list[Issue]:
        parts = [data.get(f) for f in (*self.fields, self.minuend, self.subtrahend)]
        if any(p is None for p in parts):
            return []
        total = sum(data[f] for f in self.fields)
        expected = data[self.minuend] - data[self.subtrahend]
        if total == expected:
            return []
        return [Issue(self.fields[0], self.codes[0], {"value": total, "expected": expected})]

    def spec(self, schema: Schema) -> dict[str, Any]:
        return {
            "rule": self.kind,
            "reads": list(self.reads),
            "fields": list(self.fields),
            "minuend": self.minuend,
            "subtrahend": self.subtrahend,
            "code": self.codes[0],
        }


class ZeroWhen(Rule):
    """When ``data[flag]`` is true every field in ``fields`` must be 0.

    One issue per non-zero field, with params label (bilingual) and value.
    """

    kind = "zero_when"

    def __init__(self, flag: str, fields: Sequence[str], *, code: str) -> None:
        self.flag, self.fields, self.codes = flag, tuple(fields), (code,)

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.flag, *self.fields)

    def check(self, data: dict[str, Any], schema: Schema) -> list[Issue]:
        if data.get(self.flag) is not True:
            return []
        return [
            Issue(f, self.codes[0], {"label": _label(schema, f), "value": data[f]})
            for f in self.fields
            if data.get(f) not in (None, 0)
        ]

    def spec(self, schema: Schema) -> dict[str, Any]:
        return {
            "rule": self.kind,
            "reads": list(self.reads),
            "flag": self.flag,
            "fields": list(self.fields),
            "labels": {f: _label(schema, f) for f in self.fields},
            "code": self.codes[0],
        }


class ForwardHistory(Rule):
    """A status history only moves forward (by ``order``) and ends at the status.

    The first backward or repeated step is reported as ``history_order`` on
    that entry's status; a last entry other than the current status as
    ``history_end`` on the status field.
    """

    kind = "forward_history"

    def __init__(self, history: str, status: str, order: Sequence[str]) -> None:
        self.history, self.status, self.order = history, status, tuple(order)
        self.codes = ("history_order", "history_end")

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.history, self.status)

    def check(self, data: dict[str, Any], schema: Schema) -> list[Issue]:
        entries = data.get(self.history) or []
        issues = []
        for i in range(1, len(entries)):
            prev, cur = entries[i - 1]["status"], entries[i]["status"]
            if self.order.index(cur) <= self.order.index(prev):
                issues.append(Issue(f"{self.history}.{i}.status", "history_order", {"status": cur, "previous": prev}))
                break
        status = data.get(self.status)
        if entries and status is not None and entries[-1]["status"] != status:
            issues.append(Issue(self.status, "history_end", {"last": entries[-1]["status"], "status": status}))
        return issues

    def spec(self, schema: Schema) -> dict[str, Any]:
        return {
            "rule": self.kind,
            "reads": list(self.reads),
            "history": self.history,
            "status": self.status,
            "order": list(self.order),
        }


class InChecklist(Rule):
    """Item ids in the listed arrays must belong to the referenced checklist version.

    ``lists`` holds ``(list_field, id_field, unique)``; an unknown checklist is
    reported once on the checklist id field.
    """

    kind = "in_checklist"

    def __init__(self, checklist_field: str, version_field: str, lists: Sequence[tuple[str, str, bool]]) -> None:
        self.checklist_field, self.version_field, self.lists = checklist_field, version_field, tuple(lists)
        self.codes = ("unknown_checklist", "unknown_item", "duplicate_item")

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.checklist_field, self.version_field, *(entry[0] for entry in self.lists))

    def check(self, data: dict[str, Any], schema: Schema) -> list[Issue]:
        cid, version = data.get(self.checklist_field), data.get(self.version_field)
        ids = checklist_item_ids(cid, version)
        if ids is None:
            return [Issue(self.checklist_field, "unknown_checklist", {"checklist_id": cid, "version": version})]
        issues = []
        for list_field, id_field, unique in self.lists:
            seen: set[str] = set()
            for i, entry in enumerate(data.get(list_field) or []):
                item_id = entry[id_field]
                if item_id not in ids:
                    issues.append(
                        Issue(
                            f"{list_field}.{i}.{id_field}",
                            "unknown_item",
                            {"item_id": item_id, "checklist_id": cid, "version": version},
                        )
                    )
                elif unique and item_id in seen:
                    issues.append(Issue(f"{list_field}.{i}.{id_field}", "duplicate_item", {"item_id": item_id}))
                seen.add(item_id)
        return issues

    def spec(self, schema: Schema) -> dict[str, Any]:
        return {
            "rule": self.kind,
            "reads": list(self.reads),
            "checklist_field": self.checklist_field,
            "version_field": self.version_field,
            "lists": [list(entry) for entry in self.lists],
        }


class AllWhen(Rule):
    """When ``data[when] == value``, every entry of ``list_field`` has ``entry[field] == expected``.

    Reported per offending entry with params item_id (from ``key``) and status.
    """

    kind = "all_when"

    def __init__(
        self, when: str, value: Any, list_field: str, field: str, expected: Any, key: str, *, code: str
    ) -> None:
        self.when, self.value, self.list_field = when, value, list_field
        self.field, self.expected, self.key, self.codes = field, expected, key, (code,)

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.when, self.list_field)

    def check(self, data: dict[str, Any], schema: Schema) -> list[Issue]:
        if data.get(self.when) != self.value:
            return []
        return [
            Issue(
                f"{self.list_field}.{i}.{self.field}",
                self.codes[0],
                {"item_id": entry[self.key], "status": entry[self.field]},
            )
            for i, entry in enumerate(data.get(self.list_field) or [])
            if entry[self.field] != self.expected
        ]

    def spec(self, schema: Schema) -> dict[str, Any]:
        return {
            "rule": self.kind,
            "reads": list(self.reads),
            "when": self.when,
            "value": self.value,
            "list": self.list_field,
            "field": self.field,
            "expected": self.expected,
            "key": self.key,
            "code": self.codes[0],
        }


def check_rules(
    rules: Sequence[Rule], data: dict[str, Any], schema: Schema, *, invalid: AbstractSet[str] = frozenset()
) -> list[Issue]:
    """Every rule's issues, rules in declared order; a rule reading a field in ``invalid`` is skipped."""
    issues: list[Issue] = []
    for rule in rules:
        if invalid.isdisjoint(rule.reads):
            issues.extend(rule.check(data, schema))
    return issues
