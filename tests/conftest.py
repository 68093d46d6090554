"""Shared fixtures: a real CouchDB-compatible server for the whole session.

``COUCHDB_URL`` set: tests use that server (e.g. Apache CouchDB 3) and create and delete
uniquely named databases, leaving a shared server clean. Unset: the project's own
embedded pouchdb-server is started on a free port in a temporary directory.
Tests that must crash or restart the server are marked ``embedded_only``.
"""

from __future__ import annotations

import os
import uuid

import pytest

from sync.couch import CouchClient
from sync.embedded import EmbeddedCouch


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory):
    if os.environ.get("COUCHDB_URL"):
        yield None
        return
    server = EmbeddedCouch(tmp_path_factory.mktemp("couchdb")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def couch_url(embedded_server) -> str:
    return os.environ.get("COUCHDB_URL") or embedded_server.url


@pytest.fixture(scope="session")
def couch(couch_url):
    with CouchClient(couch_url) as client:
        yield client


@pytest.fixture
def run_id() -> str:
    """A short unique token for names of databases and accounts made by one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def make_db(couch, run_id):
    """Create uniquely named databases; every one is deleted after the test."""
    created = []

    def make(prefix: str = "t"):
        db = couch.db(f"{prefix}_{run_id}_{len(created)}")
        db.create(exist_ok=False)
        created.append(db)
        return db

    yield make
    for db in created:
        try:
            db.delete_database()
        except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
            pass


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("COUCHDB_URL"):
        return
    skip = pytest.mark.skip(reason="controls the embedded server; COUCHDB_URL points elsewhere")
    for item in items:
        if "embedded_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def app(couch_url, tmp_path_factory):
    from server import create_app
    from server.config import Settings

    settings = Settings(couchdb_url=couch_url, secret_key="test-secret", var_dir=tmp_path_factory.mktemp("var"))
    application = create_app({"SETTINGS": settings, "TESTING": True})
    yield application
    application.extensions["couch"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(app):
    """The service on a real socket (werkzeug, threaded), for streaming and browser tests."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
