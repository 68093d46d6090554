"""Browser tests of the teacher app: the real service, a real CouchDB-compatible server,
Debian's chromium driven by Playwright.

The service runs in a thread (werkzeug, threaded) on a free 127.0.0.1 port; each test
gets a uniquely named county, school (registry docs, provisioned database, roster) and
teacher account, removed afterwards with every device account enrolled for it.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from werkzeug.serving import make_server

from server import create_app
from server.config import Settings
from sync.provision import inspections_db_name, provision_core, provision_inspections, provision_school, school_db_name

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
TEACHER_PASSWORD = "teacher-pass-1"
PIN = "2468"


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    for item in items:
        if "tests/webapp" in str(item.fspath):
            item.add_marker(skip)


class ServiceThread:
    """The Flask service on a free port, served by werkzeug in a thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="service", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def service(couch, couch_url, tmp_path_factory):
    provision_core(couch)
    settings = Settings(couchdb_url=couch_url, secret_key="webapp-tests", var_dir=tmp_path_factory.mktemp("var"))
    app = create_app({"SETTINGS": settings, "TESTING": True})
    with ServiceThread(app) as running:
        yield running
    app.extensions["couch"].close()


@pytest.fixture(scope="session")
def api(service):
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


@dataclass(frozen=True)
class School:
    id: str
    county_id: str
    db_name: str
    teacher: str
    teacher_name: str
    officer: str


@contextmanager
def school_in_registry(couch, run_id: str):
    """A county and a school in the registry, its database, roster and one teacher account,
    all removed on leaving (with every device enrolled for the school)."""
    registry = couch.db("registry")
    county_id, school_id, prefecture_id = f"c{run_id}", f"s{run_id}", f"p{run_id}"
    teacher = f"t_{run_id}"
    docs = [
        {"_id": f"county:{county_id}", "type": "county", "prefecture_id": prefecture_id, "name": f"测试县 {run_id}"},
        {"_id": f"school:{school_id}", "type": "school", "county_id": county_id, "prefecture_id": prefecture_id,
         "name": f"测试小学 {run_id}", "opened": "2020-01-01", "closed": None},
        {"_id": f"roster:{school_id}", "type": "roster", "school_id": school_id,
         "teachers": [{"username": teacher, "display_name": "王老师"},
                      {"username": f"t2_{run_id}", "display_name": "李老师"}]},
    ]
    for doc in docs:
        registry.put(doc)
    provision_school(couch, school_id)
    officer = f"o_{run_id}"
    couch.put_user(teacher, password=TEACHER_PASSWORD, roles=[f"school:{school_id}"])
    couch.put_user(officer, password=TEACHER_PASSWORD, roles=[f"county:{county_id}"])
    yield School(id=school_id, county_id=county_id, db_name=school_db_name(school_id), teacher=teacher,
                 teacher_name="王老师", officer=officer)
    devices = [row["doc"] for row in registry.all_docs(startkey="device:", endkey="device:\ufff0",
                                                        include_docs=True)["rows"]]
    for doc in devices:
        if doc.get("school_id") == school_id:
            couch.delete_user(doc["_id"].split(":", 1)[1])
            registry.delete(doc["_id"], doc["_rev"])
    couch.delete_user(teacher)
    couch.delete_user(officer)
    for doc in docs:
        current = registry.get_or_none(doc["_id"])
        if current:
            registry.delete(current["_id"], current["_rev"])
    try:
        couch.db(school_db_name(school_id)).delete_database()
    except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
        pass


@pytest.fixture
def school(couch, run_id):
    """A county and a school in the registry, its database, roster and one teacher account."""
    with school_in_registry(couch, run_id) as made:
        yield made


@pytest.fixture
def other_school(couch, run_id):
    """A second school, in a county of its own (e.g. the device that carries another's reports)."""
    with school_in_registry(couch, run_id + "b") as made:
        yield made


@dataclass(frozen=True)
class Inspector:
    county_id: str
    db_name: str
    username: str
    display_name: str
    school: School


@pytest.fixture
def inspector(couch, school):
    """An inspector of the school's county (role ``inspector:<county>``) and the county's
    provisioned inspections database; their devices are removed afterwards."""
    registry = couch.db("registry")
    username = f"i_{school.id}"
    provision_inspections(couch, school.county_id)
    couch.put_user(username, password=TEACHER_PASSWORD, roles=[f"inspector:{school.county_id}"],
                   display_name="赵督导")
    yield Inspector(county_id=school.county_id, db_name=inspections_db_name(school.county_id), username=username,
                    display_name="赵督导", school=school)
    rows = registry.all_docs(startkey="device:", endkey="device:\ufff0", include_docs=True)["rows"]
    for doc in (row["doc"] for row in rows):
        if doc.get("county_id") == school.county_id:
            couch.delete_user(doc["_id"].split(":", 1)[1])
            registry.delete(doc["_id"], doc["_rev"])
    couch.delete_user(username)
    try:
        couch.db(inspections_db_name(school.county_id)).delete_database()
    except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
        pass


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser):
    """Fresh browser contexts (empty IndexedDB: one device each), 360 px wide, closed after."""
    contexts = []

    def make(**kwargs):
        options = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 1, "locale": "zh-CN"}
        options.update(kwargs)
        context = browser.new_context(**options)
        context.set_default_timeout(60_000)  # generous: CI machines are shared
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
