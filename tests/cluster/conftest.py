"""A real 3-node Apache CouchDB 3 cluster for the session (``devstack.couchdb3``).

The cluster tests start their own cluster, whatever ``COUCHDB_URL`` says: they stop and
start one of its nodes, which must never happen to a server somebody else uses. They run
only when ``COUCHDB_CLUSTER_TESTS=1`` (the CI cluster leg, ``.ci/cluster-leg.sh``) and the
CouchDB launcher is present (``../shared/couchdb/couchdb`` or ``COUCHDB_SCRIPT``).

The cluster gets ``_global_changes``, as ``deploy/couchdb/cluster/setup-cluster.sh`` gives
a production cluster (``_db_updates`` needs it and ``/_cluster_setup`` does not create it
unless asked: docs/couchdb.md), so the worker follows ``_db_updates`` as in production.

Ports: ``COUCHDB_CLUSTER_PORT`` (node1; node2 and node3 are +10 and +20), else the first
of 7600, 7630, 7660 whose ports are all free.
"""

from __future__ import annotations

import os
import socket

import pytest

from devstack.couchdb3 import CouchDBCluster, launcher
from sync.couch import CouchClient

ENABLED = os.environ.get("COUCHDB_CLUSTER_TESTS") == "1"
NOT_ENABLED = "cluster tests run only with COUCHDB_CLUSTER_TESTS=1 (the CI cluster leg: .ci/cluster-leg.sh)"
NO_LAUNCHER = "no CouchDB 3 launcher (../shared/couchdb/couchdb or COUCHDB_SCRIPT) to start a 3-node cluster"
# Without it there is no _db_updates and the worker polls (see the module docstring).
GLOBAL_CHANGES_DB = "_global_changes"
CANDIDATE_PORTS = (7600, 7630, 7660)
# Each node uses its HTTP port, the backend port (+2) and Erlang distribution (+4).
NODE_PORT_OFFSETS = tuple(node * 10 + extra for node in range(3) for extra in (0, 2, 4))


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    if os.environ.get("COUCHDB_CLUSTER_PORT"):
        return int(os.environ["COUCHDB_CLUSTER_PORT"])
    for base in CANDIDATE_PORTS:
        if all(_port_free(base + offset) for offset in NODE_PORT_OFFSETS):
            return base
    pytest.fail(f"no free ports for a cluster at any of {CANDIDATE_PORTS}; set COUCHDB_CLUSTER_PORT")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A started 3-node cluster (node1's URL: ``cluster.url``); stopped at the end of the session."""
    if not ENABLED:
        pytest.skip(NOT_ENABLED)
    if launcher() is None:
        pytest.skip(NO_LAUNCHER)
    started = CouchDBCluster(tmp_path_factory.mktemp("couchdb-cluster"), cluster_port())
    try:
        try:
            started.start()
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n(the launcher names every cluster's nodes node1..3@127.0.0.1, so only one "
                        "cluster can run on a machine at a time)")
        with CouchClient(started.url) as couch:
            couch.db(GLOBAL_CHANGES_DB).create(exist_ok=True)
        yield started
    finally:
        started.stop()  # every node, including one a test left stopped
