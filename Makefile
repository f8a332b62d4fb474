# The README's two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO := examples/outpatient-booking.yaml

.PHONY: run test lint typecheck pytest bench clean

# setuptools warns on every editable install of a flat layout that a folder named like a
# package could shadow it; engage's packages are those folders, so the warning is only noise
# on a first run.
$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "engage needs Python 3.11 or newer: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet -e '.[test]'
	touch $@

## run: install, migrate the SQLite file, open the demo consultation, serve http://127.0.0.1:8080
run: $(BIN)/.installed
	$(BIN)/engage db upgrade
	$(BIN)/engage consultation show outpatient-booking >/dev/null 2>&1 || \
		($(BIN)/engage consultation create $(DEMO) && \
		 $(BIN)/engage consultation launch outpatient-booking --channel web)
	$(BIN)/engage user add admin@engage.localhost --role admin --generate-password --exists-ok
	@echo "web channel: http://$${ENGAGE_HTTP_HOST:-127.0.0.1}:$${ENGAGE_HTTP_PORT:-8080}/c/outpatient-booking"
	@echo "dashboard:   http://$${ENGAGE_HTTP_HOST:-127.0.0.1}:$${ENGAGE_HTTP_PORT:-8080}/dashboard (admin@engage.localhost)"
	$(BIN)/engage run

## test: lint, strict types, and every test on SQLite and PostgreSQL (starts what it needs)
test: $(BIN)/.installed lint typecheck pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# PostgreSQL (the machine's, or a throwaway one) and Chromium: see scripts/test-services.
# Three test workers: most tests wait on processes, browsers and fakes, not the CPU.
PYTEST_ARGS ?= -n 3
pytest: $(BIN)/.installed
	VENV_PYTHON=$(BIN)/python scripts/test-services $(BIN)/pytest $(PYTEST_ARGS)

bench: $(BIN)/.installed
	@echo "benchmarks are run by hand: see bench/README.md"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
