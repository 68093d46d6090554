"""Two-way verification: the health department's case list against what schools reported.

An officer uploads the list for the county (CSV ``school_id,date,suspected,confirmed``);
each upload is kept in ``ops`` as ``verification:<county>:<time>``. The latest upload is
compared, over the dates it covers, with the county's canonical reports in both directions:
a case on the list that the school did not report (or reported fewer of, or no report at
all), and a case a school reported that the list lacks. Every mismatch is one row per
school, date and category.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from datetime import date

from server.spreadsheet import MAX_COUNT, parse_count
from server.summaries.service import SummaryService
from sync.design import METRIC_FIELDS
from sync.provision import OPS_DB

CATEGORIES = ("suspected", "confirmed")
COLUMNS = ("school_id", "date", *CATEGORIES)
MAX_ROWS = 20_000
EARLIEST_DATE = date(2000, 1, 1)
DAYS_AHEAD = 366  # a list dated more than a year ahead is a typo


class BadUpload(ValueError):
    """The CSV cannot be used; ``errors`` maps ``line <n>`` (or ``file``) to what is wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _check_day(text: str, today: date) -> str:
    """``YYYY-MM-DD`` between ``EARLIEST_DATE`` and a year after ``today``. Raises ``ValueError``."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValueError(f"date {text[:20]!r} is not YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD") from None
    latest = today + dt.timedelta(days=DAYS_AHEAD)
    if not EARLIEST_DATE <= day <= latest:
        raise ValueError(f"date {text} is not between {EARLIEST_DATE} and {latest}")
    return text


def parse_list(text: str, county_schools: set[str], *, today: date | None = None) -> list[dict]:
    """Rows of the uploaded CSV, checked: known schools, dates in a sane range, counts of
    ASCII digits up to ``MAX_COUNT``, no extra values. Raises ``BadUpload`` listing every bad line."""
    try:
        return _parse_list(text, county_schools, today=today)
    except csv.Error as exc:  # e.g. a field over csv's field size limit
        raise BadUpload({"file": f"not a readable CSV file ({exc})"}) from exc


def _parse_list(text: str, county_schools: set[str], *, today: date | None) -> list[dict]:
    today = today or dt.datetime.now(dt.UTC).date()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    if [h for h in COLUMNS if h not in header]:
        raise BadUpload({"file": f"the header must be {','.join(COLUMNS)}"})
    rows, errors, seen = [], {}, set()
    for number, raw in enumerate(reader, start=2):
        where = f"line {number}"
        if None in raw:  # csv.DictReader puts values beyond the header under the key None
            errors[where] = f"more values than the {len(header)} columns"
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        try:
            day = _check_day(row["date"], today)
        except ValueError as exc:
            errors[where] = str(exc)
            continue
        if row["school_id"] not in county_schools:
            errors[where] = f"school {row['school_id']!r} is not a school of this county"
            continue
        counts = {}
        for name in CATEGORIES:
            try:
                counts[name] = parse_count(row[name] or "0", maximum=MAX_COUNT)
            except ValueError as exc:
                errors[where] = f"{name} {exc}"
                break
        if where in errors:
            continue
        if (row["school_id"], day) in seen:
            errors[where] = f"{row['school_id']} on {day} is listed twice"
            continue
        seen.add((row["school_id"], day))
        rows.append({"school_id": row["school_id"], "date": day, **counts})
    if len(rows) > MAX_ROWS:
        errors["file"] = f"at most {MAX_ROWS} rows"
    if not rows and not errors:
        errors["file"] = "no rows"
    if errors:
        raise BadUpload(errors)
    return rows


class VerificationService:
    """Raises ``UnknownArea`` for an unknown county, ``BadUpload`` for a bad CSV, ``CouchError``."""

    def __init__(self, summaries: SummaryService):
        self.summaries = summaries
        self.ops = summaries.couch.db(OPS_DB)

    def upload(self, county_id: str, text: str, *, by: str, filename: str | None) -> dict:
        self.summaries.county(county_id)
        schools = {s.id for s in self.summaries.schools_of_county(county_id)}
        rows = parse_list(text, schools)
        now = dt.datetime.now(dt.UTC)
        stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
        doc = {"_id": f"verification:{county_id}:{stamp}", "type": "verification_list", "county_id": county_id,
               "uploaded_by": by, "uploaded_at": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
               "filename": filename, "rows": rows}
        self.ops.put(doc)
        return self.compare(county_id, doc)

    def latest(self, county_id: str) -> dict | None:
        rows = self.ops.all_docs(startkey=f"verification:{county_id}:\ufff0", endkey=f"verification:{county_id}:",
                                 descending=True, limit=1, include_docs=True)["rows"]
        return rows[0]["doc"] if rows else None

    def report(self, county_id: str) -> dict:
        county = self.summaries.county(county_id)
        upload = self.latest(county_id)
        if upload is None:
            return {"county_id": county_id, "name": county.get("name") or county_id, "upload": None,
                    "mismatches": [], "matched": 0}
        return self.compare(county_id, upload)

    def compare(self, county_id: str, upload: dict) -> dict:
        county = self.summaries.county(county_id)
        names = {s.id: s.name for s in self.summaries.schools_of_county(county_id)}
        listed = {(r["school_id"], r["date"]): r for r in upload["rows"]}
        start = date.fromisoformat(min(d for _s, d in listed))
        end = date.fromisoformat(max(d for _s, d in listed))
        reported = {}
        for key, vector in self.summaries.school_metrics(county_id, start, end).items():
            named = dict(zip(METRIC_FIELDS, vector, strict=True))
            reported[key] = {"suspected": named["suspected_cases"], "confirmed": named["confirmed_cases"]}
        mismatches, matched = [], 0
        for school_id, day in sorted(set(listed) | {k for k, v in reported.items() if any(v.values())}):
            on_list = listed.get((school_id, day))
            by_school = reported.get((school_id, day))
            for name in CATEGORIES:
                list_count = on_list[name] if on_list else 0
                school_count = by_school[name] if by_school else None
                if list_count == (school_count or 0) and (school_count is not None or list_count == 0):
                    matched += 1
                    continue
                mismatches.append({
                    "school_id": school_id, "school_name": names.get(school_id, school_id), "date": day,
                    "category": name, "list_count": list_count, "school_count": school_count,
                    "direction": "list_only" if list_count > (school_count or 0) else "school_only",
                    "school_reported": by_school is not None,
                })
        return {"county_id": county_id, "name": county.get("name") or county_id,
                "upload": {"id": upload["_id"], "uploaded_by": upload["uploaded_by"],
                           "uploaded_at": upload["uploaded_at"], "filename": upload.get("filename"),
                           "rows": len(upload["rows"]), "from": start.isoformat(), "to": end.isoformat()},
                "matched": matched, "mismatches": mismatches}
