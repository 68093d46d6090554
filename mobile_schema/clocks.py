"""Hybrid logical clocks for per-field edit stamps.

A clock is the string ``"%015d:%05d:%s" % (wall_ms, counter, device)``. The
zero padding makes plain string comparison order clocks by wall time, then
counter, then device id, so the merge can use ``max()`` on strings and the
web app can use ``<`` in JavaScript without parsing.

Rural devices often have wrong clocks; ``hlc_tick`` never goes backwards from
the newest clock the device has seen (its own or one from another document),
so an edit made after seeing another edit always sorts after it.
"""

from __future__ import annotations

import re

#: Unanchored pattern of a clock string (shared with the JSON Schema and the JS validator).
HLC_PATTERN = r"[0-9]{15}:[0-9]{5}:[A-Za-z0-9_-]{1,100}"

MAX_WALL_MS = 10**15 - 1
MAX_COUNTER = 10**5 - 1

_HLC_RE = re.compile(r"([0-9]{15}):([0-9]{5}):([A-Za-z0-9_-]{1,100})")
_DEVICE_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")


def hlc_format(wall_ms: int, counter: int, device: str) -> str:
    """Format a clock. Raises ``ValueError`` when a part does not fit the fixed width."""
    if not 0 <= wall_ms <= MAX_WALL_MS:
        raise ValueError(f"wall_ms out of range: {wall_ms}")
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"counter out of range: {counter}")
    if not _DEVICE_RE.fullmatch(device):
        raise ValueError(f"device id must be 1-100 of [A-Za-z0-9_-]: {device!r}")
    return f"{wall_ms:015d}:{counter:05d}:{device}"


def hlc_parse(s: str) -> tuple[int, int, str]:
    """Split a clock into ``(wall_ms, counter, device)``. Raises ``ValueError`` if malformed."""
    m = _HLC_RE.fullmatch(s) if isinstance(s, str) else None
    if m is None:
        raise ValueError(f"not a clock: {s!r}")
    return int(m.group(1)), int(m.group(2)), m.group(3)


def hlc_tick(last: str | None, now_ms: int, device: str) -> str:
    """Return the clock for a new local event.

    ``last`` is the newest clock this device has seen (sent or received), or
    None. The wall part is ``max(last wall, now_ms)``; the counter restarts at
    0 when the wall advances and is bumped otherwise. When the counter would
    overflow, the wall is advanced by one millisecond instead.
    """
    if last is None:
        return hlc_format(max(now_ms, 0), 0, device)
    last_wall, last_counter, _ = hlc_parse(last)
    if now_ms > last_wall:
        return hlc_format(now_ms, 0, device)
    if last_counter < MAX_COUNTER:
        return hlc_format(last_wall, last_counter + 1, device)
    return hlc_format(last_wall + 1, 0, device)
