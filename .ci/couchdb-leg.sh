#!/usr/bin/env bash
# The whole test suite against one Apache CouchDB 3.4 node, started from the launcher in
# ../shared/couchdb/ (or COUCHDB_SCRIPT) through devstack/couchdb3.py, on a free port.
# Tests that need a server of their own (demo data, backups) start further nodes themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/couchdb-leg.XXXXXX)
cleanup() {
  .venv/bin/python -m devstack.couchdb3 stop "$work" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(.venv/bin/python -c 'from sync.embedded import free_port; print(free_port())')
eval "$(.venv/bin/python -m devstack.couchdb3 start "$work" "$port")"
export COUCHDB_URL
echo "CouchDB leg: ${COUCHDB_URL#*@}"
.venv/bin/python -m pytest "$@"
