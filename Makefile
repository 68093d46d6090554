# Two commands do everything: `make run` (the system with demo data) and `make test`.
# Both install what is missing first: the Python venv, npm packages and, for the tests,
# Debian's chromium (browser tests, with a CJK font for screenshots) and nginx (deployment config checks).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run prodlike test test-couchdb test-cluster install system-packages lint clean-data

run: install
	$(PY) -m devstack

# The production layout on loopback: nginx, gunicorn (several workers), two worker shards
# and the embedded CouchDB (or COUCHDB_URL); see devstack/prodlike.py and deploy/README.md.
prodlike: install system-packages
	$(PY) -m devstack.prodlike

test: install system-packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

node_modules/.installed: package.json package-lock.json patches/*.patch
	npm ci --no-audit --no-fund
	touch $@

# Debian packages the tests use; installed only when missing (needs root or sudo).
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The same suite against real Apache CouchDB 3.4: one node (every test), then a 3-node cluster
# (a node stopped under a running worker, figures against the oracle; end-to-end, worker and
# conflict tests). Both need the CouchDB
# launcher that sits beside the clone in ../shared/couchdb/ (or COUCHDB_SCRIPT); CI runs them.
test-couchdb: install system-packages
	.ci/couchdb-leg.sh

test-cluster: install
	.ci/cluster-leg.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check mobile_schema

clean-data:
	rm -rf var
