"""The pure three-way / two-way merge of a conflicted document's leaves (no I/O).

Input: the leaves as CouchDB returns them from ``open_revs=all`` (bodies with ``_rev``,
already migrated to the form's latest version; deletions as tombstones) and the common
ancestor's body, or None when compaction removed it (or the branches share none).

The result depends only on the leaves' contents, never on their order nor on the text of
a revision id (CouchDB and pouchdb-server hash revisions differently): every tie is broken
by edit clock, then device, then the canonical JSON of the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mobile_schema import Form

# Keys CouchDB adds to bodies we read; never part of a merged document.
_COUCH_KEYS = ("_rev", "_revisions", "_conflicts", "_deleted_conflicts", "_deleted", "_attachments")
# Marker the worker puts on the tombstones it writes when it settles a conflict.
RESOLVED_BY = "resolved_by"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rev_key(rev: str) -> tuple[int, str]:
    """``"3-abc"`` -> ``(3, "abc")``: CouchDB picks the winner by this key among live leaves."""
    pos, _, rid = rev.partition("-")
    return int(pos), rid


def winning_rev(revs: Iterable[str]) -> str:
    return max(revs, key=rev_key)


def revision_history(body: dict) -> list[str]:
    """Revisions from the leaf back to the oldest one known (from ``_revisions``)."""
    revisions = body.get("_revisions")
    if not isinstance(revisions, dict):
        return [body["_rev"]] if body.get("_rev") else []
    start = int(revisions.get("start", 0))
    return [f"{start - i}-{rid}" for i, rid in enumerate(revisions.get("ids", []))]


def common_ancestor(leaves: Sequence[dict]) -> str | None:
    """The newest revision in every leaf's history, or None when they share none."""
    histories = [revision_history(leaf) for leaf in leaves]
    if not histories or any(not h for h in histories):
        return None
    shared = set(histories[0]).intersection(*map(set, histories[1:]))
    return max(shared, key=rev_key) if shared else None


def is_worker_tombstone(body: dict) -> bool:
    return body.get("_deleted") is True and bool(body.get(RESOLVED_BY))


@dataclass(frozen=True)
class Candidate:
    """One leaf's value for a merge unit (a field, or a merge group taken whole)."""

    rev: str
    value: dict  # field -> value, for the fields of the unit the leaf has
    author: str | None
    device: str | None
    clock: str | None  # newest edit clock of the unit's fields on this leaf
    clocks: dict  # field -> {"at", "base"} as the leaf has them

    @property
    def key(self) -> str:
        return canonical_json(self.value)

    def to_json(self) -> dict:
        return {"rev": self.rev, "value": self.value, "author": self.author, "device": self.device,
                "clock": self.clock}


@dataclass(frozen=True)
class UnitDecision:
    """How one merge unit was settled."""

    fields: tuple[str, ...]
    strategy: str  # same | one_side | clock | latest | max | union | manual
    hard: bool
    value: dict
    clocks: dict
    candidates: tuple[Candidate, ...]

    def to_json(self) -> dict:
        return {"fields": list(self.fields), "strategy": self.strategy, "hard": self.hard, "value": self.value,
                "candidates": [c.to_json() for c in self.candidates]}


@dataclass(frozen=True)
class MergeResult:
    merged: dict | None  # None when every leaf is deleted
    kind: str  # soft | hard | two_way
    decisions: tuple[UnitDecision, ...] = ()
    live_revs: tuple[str, ...] = ()
    deleted_revs: tuple[str, ...] = ()  # deletions overridden by an edit on another branch
    needs_review: bool = False

    @property
    def hard_decisions(self) -> tuple[UnitDecision, ...]:
        return tuple(d for d in self.decisions if d.hard)

    @property
    def strategies(self) -> dict[str, str]:
        return {f: d.strategy for d in self.decisions for f in d.fields}


def _units(form: Form, names: Iterable[str]) -> list[tuple[str, ...]]:
    present = set(names)
    order = list(form.schema().fields)
    ordered = [n for n in order if n in present] + sorted(present - set(order))
    units: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for name in ordered:
        if name in seen:
            continue
        group = form.merge_group_of(name) if name in order else (name,)
        seen.update(group)
        units.append(tuple(group))
    return units


def _clocks_of(body: dict) -> dict:
    clocks = (body.get("meta") or {}).get("clocks")
    return clocks if isinstance(clocks, dict) else {}


def _candidate(leaf: dict, unit: tuple[str, ...]) -> Candidate:
    data = leaf.get("data") or {}
    clocks = _clocks_of(leaf)
    unit_clocks = {f: clocks[f] for f in unit if isinstance(clocks.get(f), dict)}
    ats = [c.get("at") for c in unit_clocks.values() if isinstance(c.get("at"), str)]
    meta = leaf.get("meta") or {}
    return Candidate(rev=leaf["_rev"], value={f: data[f] for f in unit if f in data},
                     author=meta.get("author"), device=meta.get("device"),
                     clock=max(ats) if ats else None, clocks=unit_clocks)


def _latest_key(c: Candidate) -> tuple:
    # HLC strings sort by wall time, counter, device; then device, then the value itself.
    return (c.clock or "", c.device or "", c.key)


def _dominates(newer: Candidate, older: Candidate) -> bool:
    """``newer`` was edited on top of ``older`` for every field where they differ."""
    differing = [f for f in set(newer.value) | set(older.value) if newer.value.get(f, _NO) != older.value.get(f, _NO)]
    if not differing:
        return False
    for f in differing:
        n, o = newer.clocks.get(f), older.clocks.get(f)
        if n is None:
            return False
        if o is None:
            continue  # the older leaf never edited this field
        if n.get("base") != o.get("at"):
            return False
    return True


_NO = object()


def _ordered_choices(form: Form, name: str) -> list | None:
    field_obj = form.schema().fields.get(name)
    if field_obj is None or not field_obj.metadata.get("ordered"):
        return None
    for validator in field_obj.validators:
        choices = getattr(validator, "choices", None)
        if choices is not None:
            return list(choices)
    return None


def _settle_hard(form: Form, unit: tuple[str, ...], cands: list[Candidate]) -> tuple[str, dict, dict]:
    """Apply the unit's rule to conflicting candidates: (strategy, value, clocks)."""
    latest = max(cands, key=_latest_key)
    rule = form.merge_rule(unit[0]) if len(unit) == 1 and unit[0] in form.schema().fields else "latest"
    name = unit[0]
    if rule == "max" and all(name in c.value for c in cands):
        order = _ordered_choices(form, name)
        if order is not None and all(c.value[name] in order for c in cands):
            rank = lambda c: order.index(c.value[name])  # noqa: E731
        elif all(isinstance(c.value[name], int | float) and not isinstance(c.value[name], bool) for c in cands):
            rank = lambda c: c.value[name]  # noqa: E731
        else:
            rank = None
        if rank is not None:
            top = max(rank(c) for c in cands)
            holder = max((c for c in cands if rank(c) == top), key=_latest_key)
            return "max", dict(holder.value), dict(holder.clocks)
    if rule == "union" and all(isinstance(c.value.get(name), list) for c in cands):
        items: dict[str, Any] = {}
        for c in cands:
            for item in c.value[name]:
                items.setdefault(canonical_json(item), item)
        merged = [items[k] for k in sorted(items)]
        clock = latest.clocks.get(name)
        return "union", {name: merged}, ({name: clock} if clock else {})
    return ("manual" if rule == "manual" else "latest"), dict(latest.value), dict(latest.clocks)


def merge_leaves(form: Form, leaves: Sequence[dict], ancestor: dict | None) -> MergeResult:
    """Merge the leaves of one document (see the module docstring).

    Live leaves are merged field by field (merge groups whole); deleted leaves that the
    worker did not write lose to any edit and are listed in ``deleted_revs``. Never raises
    for well-formed bodies (``data`` a dict, ``_rev`` present).
    """
    live = [leaf for leaf in leaves if leaf.get("_deleted") is not True]
    deleted = tuple(sorted((leaf["_rev"] for leaf in leaves
                            if leaf.get("_deleted") is True and not is_worker_tombstone(leaf)), key=rev_key))
    if not live:
        return MergeResult(merged=None, kind="soft", deleted_revs=deleted)
    # Deterministic order of leaves by content (not by revision id).
    live = sorted(live, key=lambda leaf: (canonical_json(_strip(leaf)), leaf["_rev"]))
    names: set[str] = set()
    for leaf in live:
        names.update((leaf.get("data") or {}).keys())
    anc_data = (ancestor or {}).get("data") if ancestor else None
    if isinstance(anc_data, dict):
        names.update(anc_data)
    decisions: list[UnitDecision] = []
    data: dict[str, Any] = {}
    clocks: dict[str, Any] = {}
    for unit in _units(form, names):
        cands = sorted((_candidate(leaf, unit) for leaf in live), key=lambda c: (c.key, _latest_key(c), c.rev))
        keys = {c.key for c in cands}
        if len(keys) == 1:
            strategy, hard, contenders = "same", False, cands
        elif isinstance(anc_data, dict):
            anc_key = canonical_json({f: anc_data[f] for f in unit if f in anc_data})
            contenders = [c for c in cands if c.key != anc_key]
            hard = len({c.key for c in contenders}) > 1
            strategy = "one_side"
        else:
            contenders = [c for c in cands if not any(_dominates(o, c) for o in cands if o.key != c.key)] or cands
            hard = len({c.key for c in contenders}) > 1
            strategy = "clock"
        if hard:
            strategy, value, unit_clocks = _settle_hard(form, unit, contenders)
        else:
            chosen = max(contenders, key=_latest_key)
            value, unit_clocks = dict(chosen.value), dict(chosen.clocks)
        data.update(value)
        clocks.update(unit_clocks)
        decisions.append(UnitDecision(fields=unit, strategy=strategy, hard=hard, value=value,
                                      clocks=unit_clocks, candidates=tuple(cands)))
    merged = _envelope(live, data, clocks)
    any_hard = any(d.hard for d in decisions)
    kind = "two_way" if not isinstance(anc_data, dict) else ("hard" if any_hard else "soft")
    return MergeResult(merged=merged, kind=kind, decisions=tuple(decisions),
                       live_revs=tuple(sorted((leaf["_rev"] for leaf in live), key=rev_key)),
                       deleted_revs=deleted, needs_review=any_hard)


def _strip(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in _COUCH_KEYS}


def _envelope(live: list[dict], data: dict, clocks: dict) -> dict:
    """Top level and meta from the most recently edited leaf; data and clocks as merged."""

    def recency(leaf: dict) -> tuple:
        meta = leaf.get("meta") or {}
        ats = [c["at"] for c in _clocks_of(leaf).values() if isinstance(c, dict) and isinstance(c.get("at"), str)]
        return (max(ats) if ats else "", str(meta.get("updated_at") or ""), str(meta.get("device") or ""),
                canonical_json(_strip(leaf)))

    primary = max(live, key=recency)
    merged = _strip(primary)
    meta = dict(primary.get("meta") or {})
    # The earliest submission stands for timeliness: a report submitted on time stays on time.
    submitted = [leaf["meta"] for leaf in live
                 if isinstance(leaf.get("meta"), dict) and isinstance(leaf["meta"].get("submitted_at"), str)]
    if submitted:
        first = min(submitted, key=lambda m: (m["submitted_at"], canonical_json(m)))
        meta["submitted_at"] = first["submitted_at"]
        meta["clock_offset_ms"] = first.get("clock_offset_ms")
    updated = [str(leaf["meta"].get("updated_at")) for leaf in live
               if isinstance(leaf.get("meta"), dict) and leaf["meta"].get("updated_at")]
    if updated:
        meta["updated_at"] = max(updated)
    meta["clocks"] = {k: clocks[k] for k in sorted(clocks)}
    merged["meta"] = meta
    merged["data"] = data
    return merged


__all__ = [
    "Candidate",
    "MergeResult",
    "RESOLVED_BY",
    "UnitDecision",
    "canonical_json",
    "common_ancestor",
    "is_worker_tombstone",
    "merge_leaves",
    "rev_key",
    "revision_history",
    "winning_rev",
]
