# `make run` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint audit bench-queue translations language clean

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

# The pages' strings: extract every one marked in web/ (babel.cfg), bring each language's
# catalog in step (a new string arrives untranslated, never guessed), compile the .mo files
# the app reads. Translate what tests/web/test_catalogs.py names, then run it again.
CATALOGS := web/translations
translations: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext --no-location --sort-output --project Intake -o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d $(CATALOGS) --statistics

# A catalog for one more language: make language CODE=de (then name it in config/languages.py).
language: translations
	$(BIN)/pybabel init -i $(CATALOGS)/messages.pot -d $(CATALOGS) -l $(CODE)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
