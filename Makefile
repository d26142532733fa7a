# Set-up contract: `make dev` runs the embedded stack, `make test` runs the test suite.
# Both create .venv on first use; a stamp file per requirements file reinstalls only on change.

VENV := .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=
# apt-get needs root; CI runs as root, a developer machine goes through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: dev test lint run-worker bench chromium npm

# exec: a SIGTERM that make forwards must reach devstack itself, not a shell in between.
dev: $(VENV)/.requirements.stamp | var
	PYTHONUNBUFFERED=1 exec $(PYTHON) manage.py devstack

test: $(VENV)/.requirements-dev.stamp chromium node_modules/.stamp | var
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.requirements-dev.stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy  # paths and strictness: [tool.mypy] in pyproject.toml

run-worker: $(VENV)/.requirements.stamp | var
	$(PYTHON) manage.py run_worker

bench: $(VENV)/.requirements-dev.stamp | var
	$(PYTHON) benchmarks/decision_latency.py
	$(PYTHON) benchmarks/parallel_tools.py
	$(PYTHON) benchmarks/agent_overhead.py
	$(PYTHON) benchmarks/codec_cost.py
	$(PYTHON) benchmarks/archive_cost.py
	$(PYTHON) benchmarks/page_weight.py

# The browser tests drive Debian's chromium through Playwright (no Playwright browser download).
chromium:
	@test -x /usr/bin/chromium || { \
		$(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium; }

# axe-core checks every page the browser tests open (package.json; nothing from npm is served).
node_modules/.stamp: package.json package-lock.json | npm
	npm ci --no-audit --no-fund
	touch $@

npm:
	@command -v npm > /dev/null || { \
		$(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends nodejs npm; }

$(PYTHON):
	python3 -m venv $(VENV)

$(VENV)/.requirements.stamp: requirements.txt | $(PYTHON)
	$(PYTHON) -m pip install -r requirements.txt
	touch $@

$(VENV)/.requirements-dev.stamp: requirements-dev.txt requirements.txt | $(PYTHON)
	$(PYTHON) -m pip install -r requirements-dev.txt
	touch $@

# SQLite databases and the Temporal dev server's state live here (git-ignored).
var:
	mkdir -p var
