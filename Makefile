# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-test install-bench run test poppler lint format bench bench-quick wrk clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# Front-end packages (htmx, Swagger UI) from npm, exactly as package-lock.json pins them; the app
# serves them from node_modules under /static/vendor. No install scripts run.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the dashboard's front-end packages (apt-get install npm)" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $@

install: $(VENV)/.installed $(NODE_STAMP)

install-test: $(VENV)/.installed-test $(NODE_STAMP)

run: install
	$(BIN)/portal db upgrade
	$(BIN)/portal demo
	@echo "Serving on http://$(HOST):$(PORT)  (API /api/v1, docs /schema, dashboard /mod, admin /admin)"
	$(BIN)/portal serve --host $(HOST) --port $(PORT)

test: install-test poppler
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# The PDF audit report test renders pages with Debian's poppler-utils (the app itself needs none).
poppler:
	@command -v pdftoppm >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq poppler-utils >/dev/null; } || \
		echo "poppler-utils could not be installed: the PDF rendering test will be skipped"

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The API benchmark (PostgreSQL only, not part of `make test`): seeds the database portal_bench
# (PORTAL_BENCH_URL names another; it is dropped and recreated), serves the app with a worker per
# core and drives it with wrk against the same work done by hand with psycopg. bench/run.py says
# more; BENCH_ARGS passes options (e.g. BENCH_ARGS="--profile list --workers 1").
bench: $(VENV)/.installed-bench wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: $(VENV)/.installed-bench wrk
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

wrk:
	@command -v wrk >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
