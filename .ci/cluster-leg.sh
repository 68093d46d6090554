#!/usr/bin/env bash
# CI's cluster leg: the tests that need a real 3-node Apache CouchDB 3 cluster, started from
# ../shared/couchdb/couchdb through devstack/couchdb3.py. Two steps, one after the other,
# because the launcher names every cluster's nodes node1..3@127.0.0.1, so only one cluster
# can run on a machine at a time:
#   1. tests/cluster (COUCHDB_CLUSTER_TESTS=1): the failover test starts its own cluster,
#      since it stops and restarts one of its nodes;
#   2. the end-to-end, worker and conflict tests with COUCHDB_URL at node1 of a fresh cluster
#      started here (with _global_changes, as deploy/couchdb/cluster/setup-cluster.sh makes
#      it), stopped on exit. The end-to-end test loads its demo into the empty cluster and
#      checks every county figure against the oracle; the summary tests' own demos need a
#      server holding nothing else, which a shared cluster is not once another test wrote
#      to it, so tests/cluster checks every county, prefecture and province figure there.
# Both steps run even when the first fails; the leg fails if either did.
#
#   .ci/cluster-leg.sh [PYTEST_ARGS...]   # CLUSTER_PORT: node1's port (default: the first free of 7600, 7630, 7660)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
STEP2_TESTS=(
  tests/test_end_to_end.py
  tests/sync/test_worker.py
  tests/sync/test_conflicts.py
)

if ! "$PY" -c 'import sys; from devstack.couchdb3 import launcher; sys.exit(launcher() is None)'; then
  echo "cluster leg: no CouchDB 3 launcher (../shared/couchdb/couchdb or COUCHDB_SCRIPT)" >&2
  exit 1
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A base port whose three nodes' ports (HTTP, +2, Erlang distribution +4) are all free.
pick_port() {
  local base offset busy
  for base in 7600 7630 7660; do
    busy=0
    for offset in 0 2 4 10 12 14 20 22 24; do
      if port_in_use $((base + offset)); then busy=1; fi
    done
    if [ "$busy" = 0 ]; then
      echo "$base"
      return 0
    fi
  done
  echo "cluster leg: no free ports at 7600, 7630 or 7660; set CLUSTER_PORT" >&2
  return 1
}

PORT=${CLUSTER_PORT:-$(pick_port)}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/cluster-leg.XXXXXX")

# shellcheck disable=SC2317 # run by the EXIT trap
stop_cluster() {
  local node
  for node in "$DIR"/node*; do
    [ -f "$node/couchdb.env" ] || continue
    "$PY" -m devstack.couchdb3 stop "$node" || true
  done
  rm -rf "$DIR"
}
trap stop_cluster EXIT

status=0
started=$SECONDS
echo "cluster leg 1/2: tests/cluster (its own cluster on port $PORT)" >&2
COUCHDB_CLUSTER_TESTS=1 COUCHDB_CLUSTER_PORT=$PORT \
  "$PY" -m pytest -q -p no:cacheprovider tests/cluster "$@" || status=$?
echo "cluster leg 1/2 took $((SECONDS - started)) s" >&2

started=$SECONDS
echo "cluster leg 2/2: ${STEP2_TESTS[*]} against a cluster on port $PORT" >&2
url=$("$PY" -m devstack.couchdb3 cluster "$DIR" "$PORT" | sed -n 's/^COUCHDB_URL=//p')
COUCHDB_URL=$url "$PY" -c '
import os
from sync.couch import CouchClient
with CouchClient(os.environ["COUCHDB_URL"]) as couch:
    couch.db("_global_changes").create(exist_ok=True)
'
COUCHDB_URL=$url COUCHDB_CLUSTER_TESTS=1 \
  "$PY" -m pytest -q -p no:cacheprovider "${STEP2_TESTS[@]}" "$@" || status=$?
echo "cluster leg 2/2 took $((SECONDS - started)) s" >&2
exit "$status"
