"""EARS C1, C2 and C3 on hand-computed series, the calendar, and the worker's incremental recompute."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from sync import run_until_idle
from sync.early_warning import (
    EarlyWarningSettings,
    SchoolCalendar,
    c1,
    c2,
    c3,
    day_result,
    describe,
    doc_id,
    signal_values,
)
from sync.provision import OPS_DB, REPORTS_DB
from tests.sync import test_worker_support as support
from tests.sync.test_worker_support import report

world = support.world  # fixture


@pytest.fixture
def every_day_a_school_day(world):
    """The worker tests count consecutive days, weekends included: the test county's own
    calendar says so, whatever ``calendar:default`` another test (a demo) left on a shared
    server."""
    registry = world.couch.db(support.REGISTRY_DB)
    doc_id = f"calendar:{support.COUNTY}"
    old = registry.get_or_none(doc_id)
    registry.put({**(old or {}), "_id": doc_id, "type": "calendar", "school_weekdays": [1, 2, 3, 4, 5, 6, 7],
                  "holidays": []})
    yield
    current = registry.get(doc_id)
    if old is None:
        registry.delete(doc_id, current["_rev"])
    else:
        registry.put({**old, "_rev": current["_rev"]})

LOOSE = EarlyWarningSettings(min_sd=0.5, min_count=0)


# -- the statistics, by hand ------------------------------------------------------------------------

def test_c1_is_today_against_the_seven_school_days_before():
    # baseline 1,2,3,1,2,3,2: mean 2, squares 4, sample variance 4/6, sd 0.8165
    series: list[float | None] = [1, 2, 3, 1, 2, 3, 2, 6]
    found = c1(series, 7, LOOSE)
    assert found is not None
    assert found.mean == pytest.approx(2.0) and found.sd == pytest.approx(math.sqrt(4 / 6))
    assert found.statistic == pytest.approx(4 / math.sqrt(4 / 6)) and found.alarm
    assert found.baseline_days == 7 and found.threshold == 3.0


def test_c2_leaves_a_two_day_guard_band():
    series: list[float | None] = [1, 2, 3, 1, 2, 3, 2, 10, 10, 6]
    found = c2(series, 9, LOOSE)
    assert found is not None and found.mean == pytest.approx(2.0)  # the two 10s are not in the baseline
    assert found.statistic == pytest.approx(4 / math.sqrt(4 / 6)) and found.alarm
    early = c1(series, 9, LOOSE)
    assert early is not None and early.mean == pytest.approx(31 / 7) and not early.alarm  # C1 sees the 10s


def test_c3_sums_the_excess_of_c2_over_one_sd_on_three_days():
    # C2 at 9, 10, 11: baselines of 2s (sd 0 -> min_sd 1): 0, 3, 4 -> C3 = 0 + 2 + 3
    series: list[float | None] = [2] * 10 + [5, 6]
    settings = EarlyWarningSettings(min_sd=1.0, min_count=0)
    found = c3(series, 11, settings)
    assert found is not None and found.statistic == pytest.approx(5.0) and found.alarm
    assert found.threshold == 2.0
    assert c3(series, 10, settings).statistic == pytest.approx(2.0)  # 0 + 0 + 2: not above 2
    assert not c3(series, 10, settings).alarm


def test_zero_baselines_and_small_counts_do_not_alarm_on_one_pupil():
    defaults = EarlyWarningSettings()  # min_sd 1, min_count 3
    zeros: list[float | None] = [0] * 7
    one = c1([*zeros, 1], 7, defaults)
    assert one is not None and one.sd == 0 and one.sd_used == 1.0 and one.statistic == 1.0 and not one.alarm
    two_tight = c1([*zeros, 2], 7, EarlyWarningSettings(min_sd=0.1))
    assert two_tight is not None and two_tight.statistic == pytest.approx(20) and not two_tight.alarm  # 2 < 3
    four = c1([*zeros, 4], 7, defaults)
    assert four is not None and four.alarm


def test_missing_days_are_left_out_never_zeros():
    series: list[float | None] = [1, None, 3, 1, None, 3, 2, 6]
    found = c1(series, 7, LOOSE)
    # baseline 1,3,1,3,2: mean 2, squares 4, variance 1
    assert found is not None and found.baseline_days == 5 and found.mean == 2 and found.sd == 1
    assert found.statistic == pytest.approx(4)
    assert c1(series, 7, EarlyWarningSettings(min_baseline_days=6)) is None
    assert c1([*series[:7], None], 7, LOOSE) is None  # no report today: nothing to say


def test_calendar_skips_weekends_holidays_and_closures():
    calendar = SchoolCalendar(school_weekdays=frozenset(range(1, 6)), holidays=frozenset({"2026-10-01"}),
                              closures=frozenset({"2026-10-05"}))
    before = calendar.school_days_before(dt.date(2026, 10, 7), 3)
    assert [d.isoformat() for d in before] == ["2026-09-30", "2026-10-02", "2026-10-06"]
    after = calendar.school_days_after(dt.date(2026, 9, 30), 2)
    assert [d.isoformat() for d in after] == ["2026-10-02", "2026-10-06"]


def test_an_alarm_reads_in_plain_chinese_and_english():
    values = [signal_values(_vector(fever=2 if i % 2 else 1)) for i in range(7)] + [signal_values(_vector(fever=9))]
    result = day_result(values, 7, EarlyWarningSettings(alert_methods=("C1", "C2", "C3")), scope="school")
    assert result is not None and result["alarm"]
    fever = [a for a in result["alarms"] if a["signal"] == "fever" and a["method"] == "C1"][0]
    assert fever["observed"] == 9 and fever["mean"] == pytest.approx(1.429, abs=1e-3)
    text = describe(fever, "zh")
    assert text.startswith("发热缺勤及晨检发热 9 人,近 7 个上学日平均 1.4 人(标准差 0.5),高于预警线")
    assert "9, against an average of 1.4 over the 7 school days before" in describe(fever, "en")


def _vector(*, fever: int = 0, illness: int = 0) -> list[int]:
    from sync.design import METRIC_FIELDS

    named = dict.fromkeys(METRIC_FIELDS, 0)
    named.update(reports=1, students_enrolled=100, absent_fever=fever, absent_illness=illness)
    return [named[f] for f in METRIC_FIELDS]


# -- the worker, incrementally ------------------------------------------------------------------------

def _day(n: int) -> str:
    return (dt.date(2026, 9, 1) + dt.timedelta(days=n)).isoformat()


def _fever_report(school: str, date: str, fever: int) -> dict:
    return report(school, date, absent_fever=fever, fever_at_check=0, students_present=120 - 3 - fever - 2)


def test_the_worker_recomputes_a_day_and_every_later_day_that_reads_it(world, every_day_a_school_day):
    school = world.add_school()
    db = world.db(school)
    for n in range(10):
        db.put(_fever_report(school, _day(n), 1 + n % 2))  # 1, 2, 1, 2, ...
    db.put(_fever_report(school, _day(10), 12))
    run_until_idle(world.couch, world.settings())
    ops = world.couch.db(OPS_DB)
    assert ops.get_or_none(doc_id("school", school, _day(11))) is None  # no report: missing, not zero
    for n in range(11, 16):
        db.put(_fever_report(school, _day(n), 1 + n % 2))
    run_until_idle(world.couch, world.settings())
    late = ops.get(doc_id("school", school, _day(15)))["signals"]["fever"]["methods"]["C1"]["mean"]
    spike = ops.get(doc_id("school", school, _day(10)))
    assert spike["alarm"] and spike["county_id"] == "c-test" and spike["prefecture_id"] == "p-test"
    c1_fever = spike["signals"]["fever"]["methods"]["C1"]
    assert c1_fever["alarm"] and spike["signals"]["fever"]["observed"] == 12
    assert [(a["signal"], a["method"]) for a in spike["alarms"]] == [("fever", "C2")]  # alert_methods: C2
    assert c1_fever["mean"] == pytest.approx(11 / 7, abs=1e-3)  # days 3..9: 2,1,2,1,2,1,2
    assert ops.get(doc_id("county", "c-test", _day(10)))["scope"] == "county"

    # A correction of a past day (day 8: 1 -> 30) changes day 8 and every later day that reads it:
    # C1 up to 7 school days after it (day 15's baseline is days 8..14).
    before = ops.get(doc_id("school", school, _day(9)))["signals"]["fever"]["methods"]["C1"]["mean"]
    corrected = db.get(f"report:daily_health:{_day(8)}")
    corrected["data"].update(absent_fever=30, students_present=120 - 3 - 30 - 2)
    db.put(corrected)
    run_until_idle(world.couch, world.settings())
    after = ops.get(doc_id("school", school, _day(9)))["signals"]["fever"]["methods"]["C1"]
    assert after["mean"] != before and after["mean"] == pytest.approx((2 + 1 + 2 + 1 + 2 + 1 + 30) / 7, abs=1e-3)
    assert not ops.get(doc_id("school", school, _day(10)))["signals"]["fever"]["methods"]["C1"]["alarm"]
    assert ops.get(doc_id("school", school, _day(8)))["signals"]["fever"]["observed"] == 30
    now = ops.get(doc_id("school", school, _day(15)))["signals"]["fever"]["methods"]["C1"]["mean"]
    assert now == pytest.approx(late + 29 / 7, abs=1e-3)


def test_the_worker_without_early_warning_writes_none(world, every_day_a_school_day):
    school = world.add_school()
    world.db(school).put(_fever_report(school, _day(0), 1))
    run_until_idle(world.couch, world.settings(early_warning=False))
    assert world.couch.db(OPS_DB).get_or_none(doc_id("school", school, _day(0))) is None


def test_a_day_the_school_explained_as_closed_is_not_a_day_of_its_series(world, every_day_a_school_day):
    from mobile_schema import examples

    school = world.add_school()
    db = world.db(school)
    for n in range(10):
        db.put(_fever_report(school, _day(n), 1 + n % 2))
    closed = examples.explanation(date=_day(10))
    closed["school_id"] = school
    closed["meta"].update(device=examples.DEVICE, author="t1")
    db.put(closed)
    db.put(_fever_report(school, _day(11), 2))
    run_until_idle(world.couch, world.settings())
    assert world.couch.db(REPORTS_DB).get_or_none(f"explanation:{school}:{_day(10)}") is not None
    c1_after = world.couch.db(OPS_DB).get(doc_id("school", school, _day(11)))["signals"]["fever"]["methods"]["C1"]
    assert c1_after["baseline_days"] == 7  # days 3..9: the closed day is skipped, not a gap
    assert c1_after["mean"] == pytest.approx((2 + 1 + 2 + 1 + 2 + 1 + 2) / 7, abs=1e-3)
