"""The registry of prefectures, counties and schools: import from CSV/XLSX, edit, close, reopen.

An import is all or nothing: every row is checked first (columns, ids, names, dates,
duplicates, that a county's prefecture and a school's county exist in the file or the
registry); one bad row and nothing is written, and the answer lists every bad row with
its sheet, line and reason (``errors: {"rows": [...]}``). Ids of schools and counties must
stay distinct after the mapping to database names (``S1`` and ``s1`` would share
``school_s1``): a collision within the file or with the registry is a bad row. A good
file is written with ``_bulk_docs`` (existing docs updated in place, unchanged ones
skipped), so running the same import again changes nothing.

Files: a CSV holds one kind (the ``kind`` argument, or a ``kind`` column per row); an
XLSX holds sheets named ``prefectures``, ``counties`` and ``schools`` (or one sheet and
the ``kind`` argument). The first row names the columns.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from server.admin.errors import ConflictError, ImportRejected, InvalidInput, NotFoundError
from server.audit import AuditLog
from server.spreadsheet import decode_csv_text
from sync.couch import BulkResult, CouchClient
from sync.provision import REGISTRY_DB, inspections_db_name, registry_ids, school_db_name

KINDS = ("prefectures", "counties", "schools")
KIND_ALIASES = {"prefecture": "prefectures", "county": "counties", "school": "schools",
                **{k: k for k in KINDS}}
COLUMNS = {
    "prefectures": {"required": ("id", "name"), "optional": ()},
    "counties": {"required": ("id", "prefecture_id", "name"), "optional": ()},
    "schools": {"required": ("id", "county_id", "name", "opened"), "optional": ("closed",)},
}
DOC_TYPE = {"prefectures": "prefecture", "counties": "county", "schools": "school"}
# The database each kind's id names: two ids mapping to one database would share it.
DB_NAME = {"counties": inspections_db_name, "schools": school_db_name}
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_NAME = 200
MAX_ROWS = 100_000
CHUNK = 500


@dataclass
class Row:
    kind: str
    sheet: str
    line: int
    values: dict


@dataclass
class ImportResult:
    created: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    school_ids: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _kind(raw: str | None) -> str | None:
    return KIND_ALIASES.get((raw or "").strip().lower())


def problem(sheet: str, line: int, zh: str, en: str) -> dict:
    """One bad row as the API's ``errors.rows`` lists it: ``reason`` in English (as API clients
    read it) and ``reason_zh``, the same in Chinese for the pages."""
    return {"sheet": sheet, "line": line, "reason": en, "reason_zh": zh}


def parse_file(filename: str, data: bytes, kind: str | None) -> tuple[list[Row], list[dict]]:
    """Rows of a CSV or XLSX file, and problems with the file's shape (``{sheet, line, reason}``)."""
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        return _parse_xlsx(filename, data, kind)
    try:
        return _parse_csv(filename, data, kind)
    except csv.Error as exc:  # e.g. a field over csv's field size limit
        return [], [problem(filename, 0, f"无法读取的 CSV 文件({exc})", f"not a readable CSV file ({exc})")]


def _parse_csv(filename: str, data: bytes, kind: str | None) -> tuple[list[Row], list[dict]]:
    try:
        text = decode_csv_text(data)
    except UnicodeDecodeError:
        return [], [problem(filename, 0, "文件不是 UTF-8 文本(请另存为“CSV UTF-8”)",
                            "the file is not UTF-8 text (save it as CSV UTF-8)")]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        return [], [problem(filename, 1, "文件是空的", "the file is empty")]
    reader.fieldnames = header
    rows, problems = [], []
    for values in reader:
        row_kind = _kind(values.get("kind")) if "kind" in header else _kind(kind)
        if row_kind is None:
            problems.append(problem(filename, reader.line_num, "请说明这些行的类型(kind:市州、县或学校)",
                                    "say which kind of rows these are (kind: prefectures, counties or schools)"))
            continue
        if None in values:
            problems.append(problem(filename, reader.line_num, "单元格比列多", "more cells than columns"))
            continue
        rows.append(Row(row_kind, filename, reader.line_num,
                        {k: (v or "").strip() for k, v in values.items() if k != "kind"}))
    return rows, problems


def _parse_xlsx(filename: str, data: bytes, kind: str | None) -> tuple[list[Row], list[dict]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, KeyError, OSError, ValueError) as exc:
        return [], [problem(filename, 0, f"无法读取的 XLSX 文件({type(exc).__name__})",
                            f"not a readable XLSX file ({type(exc).__name__})")]
    rows, problems = [], []
    try:
        sheets = list(book.worksheets)
        for sheet in sheets:
            sheet_kind = _kind(sheet.title) or (_kind(kind) if len(sheets) == 1 else None)
            if sheet_kind is None:
                problems.append(problem(sheet.title, 0, "请把工作表命名为 prefectures、counties 或 schools",
                                        "name the sheet prefectures, counties or schools"))
                continue
            header: list[str] = []
            for line, cells in enumerate(sheet.iter_rows(values_only=True), 1):
                texts = [_cell_text(c) for c in cells]
                if line == 1:
                    header = [t.lower() for t in texts]
                    continue
                if not any(texts):
                    continue
                values = {header[i]: t for i, t in enumerate(texts) if i < len(header) and header[i]}
                if any(t for i, t in enumerate(texts) if i >= len(header) or not header[i]):
                    problems.append(problem(sheet.title, line, "有值的列没有列名",
                                            "a value in a column without a name"))
                    continue
                rows.append(Row(sheet_kind, sheet.title, line, values))
    finally:
        book.close()
    return rows, problems


def _check_date(text: str, column: str) -> tuple[str, str] | None:
    """``(zh, en)`` when ``text`` is not a date written YYYY-MM-DD."""
    try:
        date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return None
    return (f"{column} 应为日期 YYYY-MM-DD,实为 {text!r}", f"{column} must be a date YYYY-MM-DD, got {text!r}")


class RegistryAdmin:
    """Imports and edits registry docs; takes the admin ``CouchClient`` and the audit log."""

    def __init__(self, couch: CouchClient, audit: AuditLog):
        self.couch = couch
        self.registry = couch.db(REGISTRY_DB)
        self.audit = audit

    # -- import ---------------------------------------------------------------------------

    def import_file(self, *, who: str, filename: str, data: bytes, kind: str | None,
                    dry_run: bool = False) -> ImportResult:
        """Check every row, then write all of them (or, with ``dry_run``, nothing).

        Raises ``ImportRejected`` (422) listing each bad row; nothing is written then.
        """
        rows, problems = parse_file(filename, data, kind)
        if len(rows) > MAX_ROWS:
            raise ImportRejected(f"at most {MAX_ROWS} rows per import",
                                 errors={"rows": [problem(filename, 0, "行数太多", "too many rows")]})
        if not rows and not problems:
            problems.append(problem(filename, 0, "没有可导入的行", "no rows to import"))
        problems.extend(self._header_problems(rows))
        docs, row_problems = self._build_docs(rows)
        problems.extend(row_problems)
        if problems:
            problems.sort(key=lambda p: (str(p["sheet"]), p["line"]))
            raise ImportRejected(f"{len(problems)} bad rows: nothing was imported", errors={"rows": problems})
        existing = self._existing([d["_id"] for d in docs])
        result = ImportResult()
        writes = []
        for doc in docs:
            kind = next(k for k, t in DOC_TYPE.items() if t == doc["type"])
            current = existing.get(doc["_id"])
            if current is None:
                result.created[kind] += 1
                writes.append(doc)
            else:
                merged = dict(current, **doc)
                if merged == current:
                    result.unchanged[kind] += 1
                    continue
                result.updated[kind] += 1
                writes.append(merged)
            if kind == "schools":
                result.school_ids.append(doc["_id"].split(":", 1)[1])
        if dry_run:
            return result
        failed: list[BulkResult] = []
        for start in range(0, len(writes), CHUNK):
            chunk = writes[start:start + CHUNK]
            failed.extend(r for r in self.registry.bulk_docs(chunk) if not r.ok)
        self.audit.record(who=who, action="registry.import", target=filename,
                          after={**result.as_dict(), "ids": [d["_id"] for d in writes[:1000]],
                                 "failed": [r.id for r in failed]})
        if failed:
            # Only a concurrent edit of the same doc gets here (every row was valid): say which.
            raise ConflictError(f"{len(failed)} documents changed while importing; import the file again",
                                errors={"documents": [{"id": r.id, "reason": r.reason or r.error} for r in failed]})
        return result

    @staticmethod
    def _header_problems(rows: list[Row]) -> list[dict]:
        problems, seen = [], set()
        for row in rows:
            key = (row.sheet, row.kind)
            if key in seen:
                continue
            seen.add(key)
            missing = [c for c in COLUMNS[row.kind]["required"] if c not in row.values]
            if missing:
                problems.append(problem(row.sheet, 1, f"{row.kind} 缺少列:{'、'.join(missing)}",
                                        f"missing columns for {row.kind}: {', '.join(missing)}"))
        return problems

    def _build_docs(self, rows: list[Row]) -> tuple[list[dict], list[dict]]:
        problems: list[dict] = []
        docs: list[dict] = []
        seen: dict[str, tuple[str, int]] = {}
        in_file: dict[str, dict[str, Row]] = {kind: {} for kind in KINDS}
        for row in rows:
            ident = row.values.get("id", "")
            if ID_RE.match(ident) and f"{row.kind}:{ident}" not in seen:
                in_file[row.kind][ident] = row
        prefectures_known = self._known("prefecture", {r.values.get("prefecture_id", "") for r in rows
                                                       if r.kind == "counties"})
        county_docs = self._docs_of("county", {r.values.get("county_id", "") for r in rows if r.kind == "schools"})
        # database name -> the id already using it: the registry's, then each row's as it is checked
        db_owner: dict[str, dict[str, tuple[str, str]]] = {
            kind: {DB_NAME[kind](i): (i, "in the registry")
                   for i in (registry_ids(self.couch, DOC_TYPE[kind]) if any(r.kind == kind for r in rows) else [])}
            for kind in DB_NAME}

        for row in rows:
            v = row.values
            reasons: list[tuple[str, str]] = []  # (zh, en)
            required = COLUMNS[row.kind]["required"]
            if any(c not in v for c in required):
                continue  # reported once for the sheet
            for column in required:
                if not v.get(column):
                    reasons.append((f"{column} 为空", f"{column} is empty"))
            ident = v.get("id", "")
            if ident and not ID_RE.match(ident):
                reasons.append((f"id {ident!r} 只能包含字母、数字、“_”和“-”(1-64 个)",
                                f"id {ident!r} may only have letters, digits, '_' and '-' (1-64)"))
            if len(v.get("name", "")) > MAX_NAME:
                reasons.append((f"名称超过 {MAX_NAME} 个字符", f"name is longer than {MAX_NAME} characters"))
            key = f"{row.kind}:{ident}"
            if ident and key in seen:
                first = seen[key]
                reasons.append((f"{DOC_TYPE[row.kind]} {ident} 重复出现(首次在 {first[0]} 第 {first[1]} 行)",
                                f"{DOC_TYPE[row.kind]} {ident} appears again (first at {first[0]} line {first[1]})"))
            elif ident:
                seen[key] = (row.sheet, row.line)
                if row.kind in DB_NAME and ID_RE.match(ident):
                    db_name = DB_NAME[row.kind](ident)
                    owner = db_owner[row.kind].setdefault(db_name, (ident, f"at {row.sheet} line {row.line}"))
                    if owner[0] != ident:
                        reasons.append((f"{DOC_TYPE[row.kind]} {ident} 会与 {DOC_TYPE[row.kind]} {owner[0]}"
                                        f"({owner[1]})共用数据库 {db_name}:id 不能只有大小写不同",
                                        f"{DOC_TYPE[row.kind]} {ident} would share database {db_name} with "
                                        f"{DOC_TYPE[row.kind]} {owner[0]} ({owner[1]}): ids must differ in more "
                                        f"than upper and lower case"))
            doc = {"_id": f"{DOC_TYPE[row.kind]}:{ident}", "type": DOC_TYPE[row.kind], "name": v.get("name", "")}
            if row.kind == "counties" and v.get("prefecture_id"):
                pid = v["prefecture_id"]
                if pid not in in_file["prefectures"] and pid not in prefectures_known:
                    reasons.append((f"市州 prefecture {pid} 既不在名册中,也不在本次导入中",
                                    f"prefecture {pid} is neither in the registry nor in this import"))
                doc["prefecture_id"] = pid
            if row.kind == "schools":
                cid = v.get("county_id", "")
                county_row = in_file["counties"].get(cid)
                prefecture_id = (county_row.values.get("prefecture_id") if county_row
                                 else (county_docs.get(cid) or {}).get("prefecture_id"))
                if cid and county_row is None and cid not in county_docs:
                    reasons.append((f"县 county {cid} 既不在名册中,也不在本次导入中",
                                    f"county {cid} is neither in the registry nor in this import"))
                opened, closed = v.get("opened", ""), v.get("closed", "")
                for column, text in (("opened", opened), ("closed", closed)):
                    if text:
                        wrong = _check_date(text, column)
                        if wrong:
                            reasons.append(wrong)
                if opened and closed and not reasons and closed < opened:
                    reasons.append((f"关闭日期 {closed} 早于开办日期 {opened}",
                                    f"closed {closed} is before opened {opened}"))
                doc.update(county_id=cid, prefecture_id=prefecture_id, opened=opened or None)
                if "closed" in v:
                    doc["closed"] = closed or None
            unknown = set(v) - set(required) - set(COLUMNS[row.kind]["optional"])
            if unknown:
                reasons.append((f"未知的列:{'、'.join(sorted(unknown))}",
                                f"unknown columns: {', '.join(sorted(unknown))}"))
            for zh, en in reasons:
                problems.append(problem(row.sheet, row.line, zh, en))
            if not reasons:
                docs.append(doc)
        return docs, problems

    def _known(self, doc_type: str, ids: set[str]) -> set[str]:
        return set(self._docs_of(doc_type, ids))

    def _docs_of(self, doc_type: str, ids: set[str]) -> dict[str, dict]:
        wanted = [f"{doc_type}:{i}" for i in sorted(ids) if i and ID_RE.match(i)]
        found = self._existing(wanted)
        return {k.split(":", 1)[1]: d for k, d in found.items() if d.get("type") == doc_type}

    def _existing(self, doc_ids: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(doc_ids), 1000):
            rows = self.registry.all_docs(keys=doc_ids[start:start + 1000], include_docs=True)["rows"]
            found.update({row["id"]: row["doc"] for row in rows if row.get("doc")})
        return found

    # -- schools --------------------------------------------------------------------------

    def school(self, school_id: str) -> dict:
        """The school's registry doc. Raises ``NotFoundError``."""
        doc = self.registry.get_or_none(f"school:{school_id}") if ID_RE.match(school_id) else None
        if doc is None or doc.get("type") != "school":
            raise NotFoundError(f"no school {school_id!r} in the registry")
        return doc

    def county(self, county_id: str) -> dict:
        """The county's registry record. Raises ``NotFoundError``."""
        doc = self.registry.get_or_none(f"county:{county_id}") if ID_RE.match(county_id) else None
        if doc is None or doc.get("type") != "county":
            raise NotFoundError(f"no county {county_id!r}")
        return doc

    def schools(self, *, county_id: str | None = None, status: str | None = None, q: str | None = None,
                limit: int = 100, offset: int = 0) -> dict:
        """Schools (of one county, or all), filtered by status (open/closed) and name or id text."""
        if county_id:
            rows = self.registry.view("registry", "schools_by_county", startkey=[county_id],
                                      endkey=[county_id, {}], include_docs=True)["rows"]
        else:
            rows = self.registry.view("registry", "by_type", key="school", reduce=False, include_docs=True)["rows"]
        docs = [row["doc"] for row in rows if row.get("doc")]
        if status == "open":
            docs = [d for d in docs if not d.get("closed")]
        elif status == "closed":
            docs = [d for d in docs if d.get("closed")]
        if q:
            needle = q.lower()
            docs = [d for d in docs if needle in d["_id"].lower() or needle in str(d.get("name", "")).lower()]
        return {"total": len(docs), "schools": [self.public_school(d) for d in docs[offset:offset + limit]]}

    @staticmethod
    def public_school(doc: dict) -> dict:
        return {"id": doc["_id"].split(":", 1)[1], "name": doc.get("name"), "county_id": doc.get("county_id"),
                "prefecture_id": doc.get("prefecture_id"), "opened": doc.get("opened"), "closed": doc.get("closed")}

    def update_school(self, *, who: str, school_id: str, changes: dict) -> dict:
        """Change name, county, opened or closed (``closed: null`` reopens).

        Raises ``NotFoundError``, ``InvalidInput`` (unknown county, closed before opened) or
        ``ConflictError`` (someone else changed the school meanwhile).
        """
        from sync.errors import Conflict

        doc = self.school(school_id)
        before = self.public_school(doc)
        updated = dict(doc)
        if "county_id" in changes and changes["county_id"] != doc.get("county_id"):
            county = self.registry.get_or_none(f"county:{changes['county_id']}")
            if county is None or county.get("type") != "county":
                raise InvalidInput(f"no county {changes['county_id']!r} in the registry")
            updated.update(county_id=changes["county_id"], prefecture_id=county.get("prefecture_id"))
        for key in ("name", "opened", "closed"):
            if key in changes:
                value = changes[key]
                updated[key] = value.isoformat() if isinstance(value, date) else value
        if updated.get("closed") and updated.get("opened") and updated["closed"] < updated["opened"]:
            raise InvalidInput(f"closed {updated['closed']} is before opened {updated['opened']}")
        after = self.public_school(updated)
        if after == before:
            return after
        try:
            self.registry.put(updated)
        except Conflict as exc:
            raise ConflictError("the school was changed meanwhile; reload and try again") from exc
        if before["closed"] != after["closed"]:
            action = "school.close" if after["closed"] else "school.reopen"
        else:
            action = "school.update"
        self.audit.record(who=who, action=action, target=f"school:{school_id}", before=before, after=after)
        return after


def import_columns() -> dict:
    """What an import file must look like (for the API's GET and the page)."""
    return {kind: {"required": list(spec["required"]), "optional": list(spec["optional"])}
            for kind, spec in COLUMNS.items()}
