"""The demo generator on its own (nothing written): Sichuan's shape, names, sizes, the
seasonal pattern, the sync story, and the same demo for the same seed."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demo.generate import DemoShape, devices_of, plan, plan_reports
from demo.health import day_figures, season_factor
from demo.sichuan import COUNTY_COUNT, PREFECTURES
from mobile_schema import validate_document

SHAPE = DemoShape(prefectures=2, counties_per_prefecture=3, schools=60, days=30, seed=5, end=date(2026, 11, 27))
CHINESE = re.compile(r"^[\u4e00-\u9fff()0-9]+$")


def planned(shape: DemoShape = SHAPE):
    manifest, rng = plan(shape, teacher_password="pw")
    return manifest, plan_reports(manifest, rng)


def test_sichuan_has_21_prefectures_and_183_counties_by_name():
    assert len(PREFECTURES) == 21 and COUNTY_COUNT == 183
    counts = {p.name: len(p.counties) for p in PREFECTURES}
    assert counts["成都市"] == 20 and counts["甘孜藏族自治州"] == 18 and counts["资阳市"] == 3
    assert len({(p.name, c) for p in PREFECTURES for c in p.counties}) == 183


def test_the_province_shape_is_sichuans():
    shape = DemoShape.province(schools=400, days=1)
    manifest, _rng = plan(shape)
    prefectures = [d["name"] for d in manifest.registry if d["type"] == "prefecture"]
    assert prefectures == [p.name for p in PREFECTURES]
    assert shape.counties == len(manifest.counties()) == 183
    assert [c["_id"] for c in manifest.counties()][:2] == ["county:p01c01", "county:p01c02"]


def test_a_small_shape_picks_counties_across_the_province():
    manifest, _writes = planned()
    names = {c["_id"]: c["name"] for c in manifest.counties()}
    assert len(names) == SHAPE.counties == 6
    assert names["county:p01c01"] == "锦江区" and any(n.endswith("县") for n in names.values())


def test_names_are_chinese_and_ids_ascii():
    manifest, _writes = planned()
    for doc in manifest.registry:
        assert doc["_id"].isascii()
        if doc["type"] in ("prefecture", "county", "school"):
            assert CHINESE.match(doc["name"]), doc["name"]
        if doc["type"] == "roster":
            assert all(CHINESE.match(t["display_name"]) and t["username"].isascii() for t in doc["teachers"])
    schools = [s["name"] for s in manifest.schools()]
    assert len(set(schools)) == len(schools)
    assert any(n.endswith("中心小学") for n in schools) and any(n.endswith(("村小", "村小学")) for n in schools)
    assert any(n.endswith("第二中学") for n in schools)


def test_school_sizes_run_from_village_schools_to_county_middle_schools():
    manifest, _writes = planned(DemoShape.province(schools=1000, days=1))
    sizes = [p.enrolled for p in manifest.profiles.values()]
    assert min(sizes) < 20 and max(sizes) > 1500
    assert Counter(p.kind for p in manifest.profiles.values())["village"] > 100


def test_the_same_seed_makes_the_same_demo():
    one, two = planned()[0], planned()[0]
    assert one.registry == two.registry and one.expected == two.expected and one.last_sync == two.last_sync
    assert one.profiles == two.profiles and one.waiting == two.waiting


def test_every_document_passes_validation():
    manifest, writes = planned()
    now = datetime.now(UTC)
    for school in writes:
        for device, _new_edits, docs in school.phases():
            for doc in docs:
                assert validate_document(doc, now=now, school_id=school.school_id, device=device) == [], doc["_id"]


def test_a_school_that_never_synced_has_no_report_and_no_sync_record():
    manifest, writes = planned()
    never = [sid for sid, p in manifest.profiles.items() if p.sync == "never"]
    assert never
    by_school = {w.school_id: w for w in writes}
    for sid in never:
        assert not by_school[sid].phases()
        assert not any(s == sid for s, _d in manifest.expected)
        assert not any(d in manifest.last_sync for d in devices_of(manifest, sid))


def test_offline_schools_last_synced_before_their_waiting_reports_and_others_sync_daily():
    manifest, _writes = planned()
    offline = {sid: p for sid, p in manifest.profiles.items() if p.sync == "offline"}
    assert offline and manifest.waiting
    for sid, profile in offline.items():
        synced = max(manifest.last_sync[d] for d in devices_of(manifest, sid) if d in manifest.last_sync)
        assert synced < f"{profile.since}T00:00"  # UTC: before that school day began
        assert all(day < profile.since for s, day in manifest.expected if s == sid)
        assert {day for s, day in manifest.waiting if s == sid}
    daily = [sid for sid, p in manifest.profiles.items() if p.sync in ("daily", "silent")]
    last_day = f"{SHAPE.end_date}T"
    recent = [sid for sid in daily if any(manifest.last_sync.get(d, "").startswith(last_day)
                                          for d in devices_of(manifest, sid))]
    assert len(recent) > 0.8 * len(daily)


def test_absence_and_fever_follow_the_season_and_outbreaks_show():
    assert season_factor(date(2026, 1, 15)) > 1.9 > 0.7 > season_factor(date(2026, 7, 15))

    def fever_rate(day: date, outbreak: float = 0.0) -> float:
        import random

        rng = random.Random(1)
        runs = [day_figures(rng, 800, False, day=day, outbreak=outbreak) for _ in range(300)]
        return sum(r["fever_at_check"] for r in runs) / sum(r["students_present"] for r in runs)

    assert fever_rate(date(2027, 1, 13)) > 1.8 * fever_rate(date(2026, 6, 17))
    assert fever_rate(date(2026, 11, 18), outbreak=1.0) > 0.02  # trips the default alert rule
    manifest, _writes = planned()
    assert any(p.outbreak for p in manifest.profiles.values())


@settings(max_examples=200, deadline=None)
@given(enrolled=st.integers(1, 4000), zero=st.booleans(), outbreak=st.floats(0, 1), seed=st.integers(0, 10**6),
       day=st.dates(date(2025, 1, 1), date(2027, 12, 31)))
def test_day_figures_always_make_a_valid_report(enrolled, zero, outbreak, seed, day):
    import random

    from demo.generate import daily_report

    data = day_figures(random.Random(seed), enrolled, zero, day=day, outbreak=outbreak)
    doc = daily_report("s1", day.isoformat(), data, device="device_a", author="t_s1_1",
                       submitted=datetime(day.year, day.month, day.day, 1, tzinfo=UTC))
    assert validate_document(doc, now=datetime(2028, 1, 1, tzinfo=UTC), school_id="s1", device="device_a") == []
    assert data["zero_report"] == zero


@pytest.mark.parametrize("schools", [2, 8])
def test_tiny_demos_have_no_silent_school(schools):
    manifest, _writes = planned(DemoShape(schools=schools, days=4, seed=11))
    assert {p.sync for p in manifest.profiles.values()} == {"daily"}
