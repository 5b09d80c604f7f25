"""Shared fixtures: the test office, and a fresh database on SQLite and PostgreSQL.

Every storage test runs on both backends, each on a database of its own, copied from one
migrated once per session (tests/support/databases.py). PostgreSQL runs when
INTAKE_TEST_DATABASE_URL names a server (each test's database is dropped afterwards);
without it those tests skip, unless INTAKE_TEST_REQUIRE_POSTGRESQL=1 (as in CI), where a
skip would hide a gap and so fails instead.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from config.loading import ConfigError, load_settings
from config.settings import Settings
from intake.cli.runtime import Runtime, open_runtime
from routing.people import accounts
from tests.support.databases import PostgreSQLServer, SqliteTemplate
from tests.support.people import office_client
from tests.support.twilio import FakeTwilio, PhoneOffice, fake_twilio_server, open_phone_office

# Real Chromium for the browser tests (tests/support/browser.py's fixtures), and the
# office's relay on loopback (tests/support/replies.py's `smarthost`).
pytest_plugins = ("tests.support.browser", "tests.support.replies")

TESTS = Path(__file__).parent
OFFICE = TESTS / "office.toml"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
# Werkzeug's scrypt at a work factor of 2**10 rather than its 2**15: the same algorithm,
# salts and checks at a thirtieth of the cost, as most tests sign a new person in (a hash
# and a check, a tenth of a second each at full strength). test_accounts.py holds the
# product to werkzeug's full strength.
QUICK_SCRYPT = "scrypt:1024:8:1"


@pytest.fixture(autouse=True)
def _quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        accounts, "generate_password_hash", partial(generate_password_hash, method=QUICK_SCRYPT)
    )


def _postgresql_admin_url() -> str:
    url = os.environ.get("INTAKE_TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("INTAKE_TEST_REQUIRE_POSTGRESQL") == "1":
        pytest.fail("INTAKE_TEST_REQUIRE_POSTGRESQL=1 but INTAKE_TEST_DATABASE_URL is not set")
    pytest.skip(
        "PostgreSQL tests need INTAKE_TEST_DATABASE_URL (for example postgresql+psycopg://postgres@127.0.0.1/test)"
    )


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgreSQLServer]:
    """The PostgreSQL server that INTAKE_TEST_DATABASE_URL names, making each test's database."""
    server = PostgreSQLServer(make_url(_postgresql_admin_url()))
    yield server
    server.close()


@pytest.fixture
def postgresql_url(postgresql_server: PostgreSQLServer) -> Iterator[str]:
    """A new PostgreSQL database at the newest schema, for one test."""
    url = postgresql_server.migrated()
    yield url
    postgresql_server.drop_later(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: SqliteTemplate) -> str:
    """A new database at the newest schema, on each backend."""
    if request.param == "sqlite":
        return sqlite_template.copy_to(tmp_path / "intake.db")
    url: str = request.getfixturevalue("postgresql_url")
    return url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database on each backend, for the tests of the migrations."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'intake.db'}"
        return
    server: PostgreSQLServer = request.getfixturevalue("postgresql_server")
    url = server.empty()
    yield url
    server.drop_later(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(OFFICE, {"INTAKE_DATABASE_URL": database_url})


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    """The web app of the test office."""
    return runtime.web_app()


@pytest.fixture
def client(app: Flask, runtime: Runtime) -> Iterator[FlaskClient]:
    """A receptionist, "reception", signed in to the test office's pages, with an API token."""
    with office_client(app, runtime.sessions, name="reception") as test_client:
        yield test_client


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """The test office on a prepared database, as `intake serve` would open it."""
    opened = open_runtime(settings)
    yield opened
    opened.engine.dispose()


@pytest.fixture
def patient_runtime(settings: Settings) -> Iterator[Runtime]:
    """The test office with writes that wait 30 s for their turn, not the office's 1 s
    (kept short so that the outage tests end quickly): for the tests where many threads
    write at once and queue for SQLite's one writer, longer on a busy machine."""
    database = dataclasses.replace(settings.database, lock_timeout_seconds=30)
    opened = open_runtime(dataclasses.replace(settings, database=database))
    yield opened
    opened.engine.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests ran on PostgreSQL, so a run that skipped them all shows it."""
    counts = {
        outcome: sum("postgresql" in report.keywords for report in terminalreporter.stats.get(outcome, []))
        for outcome in ("passed", "failed", "skipped")
    }
    terminalreporter.write_line(
        f"PostgreSQL tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    )


def require_program(path: str, package: str) -> str:
    """The path of a program a test needs; skip without it, or fail in CI."""
    if Path(path).exists():
        return path
    _missing(f"{path} is not installed (Debian package {package})")


def require_module(name: str, package: str) -> ModuleType:
    """A Python module a test needs; skip without it, or fail in CI."""
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"the Python module {name} is not installed ({package})")


def _missing(message: str) -> NoReturn:
    if os.environ.get("INTAKE_TEST_REQUIRE_PROGRAMS") == "1":
        pytest.fail(f"{message}, and INTAKE_TEST_REQUIRE_PROGRAMS=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    """A fake Twilio API on loopback, shared by the session and reset for each office."""
    yield from fake_twilio_server()


@pytest.fixture
def phone(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[PhoneOffice]:
    """The test office with Twilio configured against the fake API, on each database."""
    office = open_phone_office(database_url, tmp_path, fake_twilio)
    yield office
    office.close()


def assert_refused(path: Path, key: str, problem: str, environ: dict[str, str] | None = None) -> ConfigError:
    """Loading `path` fails on `key` with `problem`, in one line naming the file and the key."""
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ or {})
    error = raised.value
    assert error.key == key
    assert problem in error.problem
    assert str(error).startswith(f"{path}: {key}: ")
    return error
