# `make run` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint audit bench-queue clean

run: $(VENV)/.installed
	$(BIN)/intake --config config/default.toml serve

test: $(VENV)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every installed package against the vulnerabilities published for its version (PyPI's
# JSON API). --strict fails when a package could not be checked, rather than pass unseen;
# it needs that API reachable, so it runs on its own rather than inside `make lint`.
audit: $(VENV)/.installed
	$(BIN)/pip-audit --strict --skip-editable --progress-spinner off

# The queue page and the API list at a million items, SQLite and PostgreSQL (README.md).
bench-queue: $(VENV)/.installed
	$(BIN)/python bench/queue_pages.py $(BENCH_ARGS)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
