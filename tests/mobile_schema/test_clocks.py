from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobile_schema import hlc_format, hlc_parse, hlc_tick
from mobile_schema.clocks import MAX_COUNTER, MAX_WALL_MS

WALLS = st.integers(min_value=0, max_value=MAX_WALL_MS - 1)
COUNTERS = st.integers(min_value=0, max_value=MAX_COUNTER)
DEVICES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=40)
CLOCKS = st.tuples(WALLS, COUNTERS, DEVICES)


@given(CLOCKS)
def test_format_parse_round_trip(c):
    assert hlc_parse(hlc_format(*c)) == c


@given(CLOCKS, CLOCKS)
def test_string_order_is_tuple_order(a, b):
    sa, sb = hlc_format(*a), hlc_format(*b)
    # Device ids are ASCII, so Python's and JavaScript's string order agree.
    assert (sa < sb) == (a < b)
    assert (sa == sb) == (a == b)


@given(st.one_of(st.none(), CLOCKS.map(lambda c: hlc_format(*c))), WALLS, DEVICES)
def test_tick_is_after_last_and_not_before_now(last, now_ms, device):
    new = hlc_tick(last, now_ms, device)
    wall, counter, dev = hlc_parse(new)
    assert dev == device and wall >= now_ms
    if last is not None:
        last_wall, last_counter, _ = hlc_parse(last)
        assert (wall, counter) > (last_wall, last_counter)


@given(st.lists(WALLS, min_size=1, max_size=30), DEVICES)
def test_ticks_strictly_increase_even_when_the_clock_goes_back(nows, device):
    last = None
    for now_ms in nows:
        new = hlc_tick(last, now_ms, device)
        assert last is None or new > last
        last = new


def test_tick_examples():
    assert hlc_tick(None, 5, "d1") == "000000000000005:00000:d1"
    assert hlc_tick("000000000000009:00003:d2", 5, "d1") == "000000000000009:00004:d1"
    assert hlc_tick("000000000000009:00003:d2", 10, "d1") == "000000000000010:00000:d1"
    assert hlc_tick("000000000000009:99999:d2", 5, "d1") == "000000000000010:00000:d1"


@pytest.mark.parametrize("bad", ["", "1:2:d", "000000000000001:00000:", "000000000000001:00000:a b", None])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        hlc_parse(bad)
