# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-test run test poppler lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

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

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
