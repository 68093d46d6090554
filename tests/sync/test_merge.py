"""Properties of the pure merge (hypothesis): order-free, lossless, identity on equal leaves."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from mobile_schema import examples, get_form, hlc_format
from sync.merge import canonical_json, common_ancestor, merge_leaves, rev_key, winning_rev

FORM = get_form("daily_health")
INCIDENT = get_form("incident")
DEVICES = ("devA", "devB", "devC")
FIELDS = ("notes", "returned_from_affected_areas", "disinfection_done", "staff_present", "students_present")


def _value(name: str, n: int):
    return {"notes": f"note {n}", "returned_from_affected_areas": n, "disinfection_done": n % 2 == 0,
            "staff_present": n % 12, "students_present": 100 + n % 15}[name]


edits = st.lists(st.tuples(st.sampled_from(FIELDS), st.integers(0, 20), st.integers(0, 5), st.booleans()),
                 max_size=5)


@st.composite
def leaf_sets(draw):
    base = examples.daily_health()
    base["meta"]["clocks"] = {}
    count = draw(st.integers(2, 4))
    leaves = []
    for i in range(count):
        leaf = copy.deepcopy(base)
        device = DEVICES[i % len(DEVICES)]
        leaf["meta"]["device"] = device
        for name, n, ms, from_base in draw(edits):
            leaf["data"][name] = _value(name, n)
            leaf["meta"]["clocks"][name] = {"at": hlc_format(1_000 + ms, 0, device),
                                            "base": hlc_format(999, 0, "devA") if from_base else None}
        leaf["_rev"] = f"2-{i:02d}{draw(st.sampled_from('abcdef'))}"
        leaf["_revisions"] = {"start": 2, "ids": [leaf["_rev"][2:], "base"]}
        leaves.append(leaf)
    ancestor = copy.deepcopy(base) if draw(st.booleans()) else None
    if ancestor:
        ancestor["_rev"] = "1-base"
    return leaves, ancestor


def _summary(result):
    return (canonical_json(result.merged), result.kind,
            canonical_json([d.to_json() for d in result.decisions]))


@settings(max_examples=150, deadline=None)
@given(leaf_sets(), st.randoms())
def test_merge_is_deterministic_under_leaf_permutation(case, rnd):
    leaves, ancestor = case
    shuffled = list(leaves)
    rnd.shuffle(shuffled)
    assert _summary(merge_leaves(FORM, leaves, ancestor)) == _summary(merge_leaves(FORM, shuffled, ancestor))


@settings(max_examples=150, deadline=None)
@given(leaf_sets())
def test_every_value_any_leaf_held_is_kept_in_the_result_or_the_record(case):
    leaves, ancestor = case
    result = merge_leaves(FORM, leaves, ancestor)
    for leaf in leaves:
        for name, value in leaf["data"].items():
            kept = result.merged["data"].get(name) == value
            recorded = any(c.value.get(name) == value and c.rev == leaf["_rev"]
                           for d in result.decisions if name in d.fields for c in d.candidates)
            assert kept or recorded, (name, value)


@settings(max_examples=80, deadline=None)
@given(leaf_sets(), st.integers(2, 4))
def test_identical_leaves_merge_to_themselves(case, copies):
    leaves, ancestor = case
    same = []
    for i in range(copies):
        leaf = copy.deepcopy(leaves[0])
        leaf["_rev"] = f"2-{i}x"
        same.append(leaf)
    result = merge_leaves(FORM, same, ancestor)
    body = {k: v for k, v in leaves[0].items() if not k.startswith("_") or k == "_id"}
    assert result.merged == body
    assert not result.needs_review and all(d.strategy == "same" for d in result.decisions)


def test_merge_groups_are_taken_whole_from_one_leaf():
    base = examples.daily_health()
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    a["_rev"], b["_rev"] = "2-a", "2-b"
    a["data"].update(students_present=110, absent_other=6)
    a["meta"]["clocks"] = {"students_present": {"at": hlc_format(5, 0, "devA"), "base": None}}
    b["data"].update(students_enrolled=125, students_present=119)
    b["meta"]["clocks"] = {"students_enrolled": {"at": hlc_format(9, 0, "devB"), "base": None}}
    result = merge_leaves(FORM, [a, b], dict(base, _rev="1-x"))
    group = ("students_enrolled", "students_present", "absent_illness", "absent_fever", "absent_other")
    assert {k: result.merged["data"][k] for k in group} == {k: b["data"][k] for k in group}
    assert result.kind == "hard"


def test_union_and_ordered_max_on_incidents():
    base = examples.incident()
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    a["_rev"], b["_rev"] = "2-a", "2-b"
    a["data"]["symptoms"] = ["fever", "rash"]
    b["data"]["symptoms"] = ["cough", "fever"]
    a["data"]["status"] = "under_treatment"
    b["data"]["status"] = "recovered"
    result = merge_leaves(INCIDENT, [a, b], dict(base, _rev="1-x"))
    assert result.merged["data"]["symptoms"] == ["cough", "fever", "rash"]
    assert result.merged["data"]["status"] == "recovered"  # by the order of statuses, not alphabetically
    assert result.strategies["symptoms"] == "union" and result.strategies["status"] == "max"


def test_revision_helpers():
    assert winning_rev(["2-b", "10-a", "10-0"]) == "10-a"
    assert rev_key("3-abc") == (3, "abc")
    leaves = [{"_rev": "3-x", "_revisions": {"start": 3, "ids": ["x", "m", "r"]}},
              {"_rev": "2-y", "_revisions": {"start": 2, "ids": ["y", "r"]}}]
    assert common_ancestor(leaves) == "1-r"
    assert common_ancestor([{"_rev": "1-a"}, {"_rev": "1-b"}]) is None
