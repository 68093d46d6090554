"""Servers for tests that need one holding nothing but their own data."""

from __future__ import annotations

import contextlib
import os

import pytest

from devstack.couchdb3 import CouchDBNode, launcher
from sync.couch import CouchClient
from sync.embedded import EmbeddedCouch, free_port


@contextlib.contextmanager
def server_holding_nothing(tmp_path_factory, name: str):
    """A server that holds only what the caller puts there: a fresh embedded one; or, with
    ``COUCHDB_URL``, that server while it has no registry, else a fresh Apache CouchDB node
    of our own (``devstack.couchdb3``, skipped with the reason where this machine has none)."""
    url = os.environ.get("COUCHDB_URL")
    if not url:
        with EmbeddedCouch(tmp_path_factory.mktemp(name)) as server:
            yield server.url
        return
    with CouchClient(url) as probe:
        empty = not probe.db("registry").exists()
    if empty:
        yield url
        return
    if launcher() is None:
        pytest.skip("COUCHDB_URL already has a registry and there is no CouchDB launcher for a fresh node")
    with CouchDBNode(tmp_path_factory.mktemp(name), free_port()) as node:
        yield node.url
