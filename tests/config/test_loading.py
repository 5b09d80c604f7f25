"""Loading the office's TOML file: the good file, the shipped one, and every kind of bad one."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w

from config.loading import DEFAULT_CONFIG, ConfigError, load_settings
from tests.conftest import OFFICE, assert_refused


def test_the_test_office_loads_into_typed_settings() -> None:
    settings = load_settings(OFFICE, {})
    assert settings.office_name == "Test Office"
    assert settings.domains == ("office.test", "office-two.test")
    assert [d.id for d in settings.departments] == ["front-desk", "sales", "billing"]
    assert settings.department("sales").addresses == ("sales@office.test", "orders@office-two.test")
    assert settings.default_department == "front-desk"
    assert str(settings.smtp.listen) == "127.0.0.1:2525"
    assert settings.web.page_size == 3
    assert (settings.web.connection_limit, settings.web.idle_timeout_seconds) == (1000, 30)
    assert (settings.web.max_request_bytes, settings.web.threads) == (21 * 1024 * 1024, 8)
    assert settings.database.lock_timeout_seconds == 1.0


def test_the_shipped_sample_office_is_valid() -> None:
    settings = load_settings(DEFAULT_CONFIG, {})
    assert {"front-desk", "sales", "billing", "support"} <= {d.id for d in settings.departments}
    assert all(d.addresses and d.phones for d in settings.departments)
    assert settings.database.url == "sqlite:///intake.db"


def test_environment_overrides_the_file() -> None:
    env = {
        "INTAKE_CONFIG": str(OFFICE),
        "INTAKE_DATABASE_URL": "postgresql+psycopg://db/intake",
        "INTAKE_SMTP": "0.0.0.0:25",
        "INTAKE_WEB": "[::1]:9000",
    }
    settings = load_settings(None, env)
    assert settings.source == OFFICE
    assert settings.database.url == "postgresql+psycopg://db/intake"
    assert (settings.smtp.listen.host, settings.smtp.listen.port) == ("0.0.0.0", 25)
    assert (settings.web.listen.host, settings.web.listen.port) == ("::1", 9000)


def test_opening_hours_follow_the_office_time_zone() -> None:
    settings = load_settings(OFFICE, {})
    # Monday 2 Nov 2026, New York is UTC-5.
    assert settings.is_open(datetime(2026, 11, 2, 14, 30, tzinfo=UTC))  # 09:30 local
    assert not settings.is_open(datetime(2026, 11, 2, 17, 30, tzinfo=UTC))  # 12:30 local, lunch
    assert not settings.is_open(datetime(2026, 11, 4, 15, 0, tzinfo=UTC))  # Wednesday: closed


BAD_CASES = [
    ("departments = 3", "departments", "must be list"),
    ("office.default_department = 'nobody'", "office.default_department", "unknown department 'nobody'"),
    ("office.timezone = 'Mars/Olympus'", "office.timezone", "unknown time zone"),
    ("office.region = 'XQ'", "office.region", "'XQ' is not a country code"),
    ("contacts.same_request_hours = 800", "contacts.same_request_hours", "to a month (744)"),
    ("contacts.window = 3", "contacts.window", "unknown key"),
    ("retention.resolved_days = 0", "retention.resolved_days", "must be from 1 to 3660"),
    ("retention.spam_days = '30'", "retention.spam_days", "must be int"),
    ("smtp.listen = '127.0.0.1:99999'", "smtp.listen", "port from 1 to 65535"),
    ("web.listen = 'localhost'", "web.listen", "HOST:PORT"),
    ("web.secure_cookies = 'no'", "web.secure_cookies", "must be bool"),
    ("web.connection_limit = 5", "web.connection_limit", "must be from 10 to 100000"),
    ("web.idle_timeout_seconds = 0", "web.idle_timeout_seconds", "must be from 1 to 3600"),
    ("web.max_request_bytes = 2147483648", "web.max_request_bytes", "must be from 65536 to 1073741824"),
    ("web.threads = 'many'", "web.threads", "must be int, not str"),
    ("office.hours.mon = ['17:00-09:00']", "office.hours.mon", "ends before it starts"),
    ("office.hours.funday = ['09:00-10:00']", "office.hours.funday", "unknown key"),
    ("office.domains = []", "office.domains", "at least one domain"),
    ("office.colour = 'blue'", "office.colour", "unknown key"),
    (
        "departments.2.addresses = ['sales@office.test']",
        "departments[2].addresses",
        "'sales@office.test' already belongs to department 'sales'",
    ),
    (
        "departments.2.addresses = ['billing@elsewhere.test']",
        "departments[2].addresses",
        "not at one of office.domains",
    ),
    ("departments.2.phones = ['555-0100']", "departments[2].phones", "not an E.164 number"),
    (
        "departments.2.phones = ['+15555550100']",
        "departments[2].phones",
        "already belongs to department 'front-desk'",
    ),
    ("departments.2.id = 'sales'", "departments[2].id", "duplicate department id 'sales'"),
    ("departments.2.id = 'Billing Team'", "departments[2].id", "must be lower-case"),
    ("database.url = 'mysql://x'", "database.url", "neither a sqlite: nor a postgresql URL"),
    ("smtp.max_message_size = 'big'", "smtp.max_message_size", "must be int, not str"),
    ("office.languages = []", "office.languages", 'name at least one language, such as ["en"]'),
    (
        "office.languages = ['ro', 'xx']",
        "office.languages",
        "'xx' is not a language Intake can read (known: ",
    ),
    ("office.languages = ['klingon']", "office.languages", "'klingon' is not a language Intake can read"),
    ("office.languages = ['ro', 'RO']", "office.languages", "names a language twice"),
    ("office.languages = 'ro'", "office.languages", "must be list"),
    (
        "office.language = 'xx'",
        "office.language",
        "the pages are not translated into 'xx' (shipped: en, ro, hu)",
    ),
    ("office.language = ''", "office.language", "must not be empty"),
    (
        "departments.2.senders = ['acme']",
        "departments[2].senders",
        "'acme' is neither an email address nor a domain",
    ),
    (
        "departments.2.senders = ['a@@b.example']",
        "departments[2].senders",
        "is neither an email address nor a domain",
    ),
    ("departments.2.writers = ['owner', ' - ']", "departments[2].writers", "' - ' has no word in it"),
    ("departments.2.writers = 'owner'", "departments[2].writers", "must be list"),
]


def test_the_office_languages_and_department_senders_are_read(tmp_path: Path) -> None:
    assert load_settings(OFFICE).languages == ("en",)  # unless the office names its own
    path = _edited_office(tmp_path, "office.languages = ['RO', 'hu', 'en', 'de']")
    assert load_settings(path).languages == ("ro", "hu", "en", "de")
    path = _edited_office(tmp_path, "departments.2.senders = ['@Acme.example', 'Ann@Supplier.example']")
    assert load_settings(path).department("billing").senders == ("acme.example", "ann@supplier.example")
    path = _edited_office(tmp_path, "departments.2.writers = ['supplier', 'our accountant']")
    assert load_settings(path).department("billing").writers == ("supplier", "our accountant")
    assert load_settings(_edited_office(tmp_path, "office.region = 'de'")).region == "DE"


def test_the_pages_language_is_the_offices_choice(tmp_path: Path) -> None:
    assert load_settings(OFFICE).language == "en"  # unless the office names its own
    assert load_settings(_edited_office(tmp_path, "office.language = 'RO'")).language == "ro"


def _edited_office(tmp_path: Path, edit: str) -> Path:
    """The test office with one dotted key set to a TOML value ("a.b.2.c = 'x'")."""
    data = tomllib.loads(OFFICE.read_text())
    dotted, _, value_text = edit.partition(" = ")
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[last] = tomllib.loads(f"v = {value_text}")["v"]
    path = tmp_path / "office.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "key", "problem"), BAD_CASES, ids=[c[1] + ":" + c[2][:20] for c in BAD_CASES]
)
def test_a_bad_value_is_refused_naming_file_and_key(
    tmp_path: Path, edit: str, key: str, problem: str
) -> None:
    path = _edited_office(tmp_path, edit)
    assert_refused(path, key, problem)


def test_a_missing_file_and_broken_toml_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "absent.toml", {})
    broken = tmp_path / "broken.toml"
    broken.write_text("[office\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML: .*line 1"):
        load_settings(broken, {})


def test_toml_nested_too_deeply_is_refused_in_one_line(tmp_path: Path) -> None:
    # tomllib reads nesting by recursion: a RecursionError would end a reload's signal
    # handler, and the process, instead of refusing the file.
    deep = tmp_path / "deep.toml"
    deep.write_text(OFFICE.read_text() + "\n[routing]\nx = " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.toml: not valid TOML: arrays or tables nested too deeply"):
        load_settings(deep, {})


def test_check_config_exits_non_zero_with_one_line_naming_file_and_key(tmp_path: Path) -> None:
    path = _edited_office(tmp_path, "office.timezone = 'Nowhere/Special'")
    result = subprocess.run(
        [sys.executable, "-m", "intake", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"intake: {path}: office.timezone: unknown time zone 'Nowhere/Special' "
        "(use an IANA name such as Europe/London)"
    ]


def test_check_config_passes_the_good_file() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "intake", "--config", str(OFFICE), "check-config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK (3 departments: front-desk, sales, billing)" in result.stdout


def test_the_web_may_listen_beyond_loopback_with_secure_cookies_by_default(tmp_path: Path) -> None:
    office = tmp_path / "office.toml"
    office.write_text(OFFICE.read_text().replace("secure_cookies = false\n", ""))
    settings = load_settings(office, {"INTAKE_WEB": "0.0.0.0:8080"})
    assert (settings.web.listen.host, settings.web.secure_cookies) == ("0.0.0.0", True)
    assert load_settings(OFFICE, {}).web.secure_cookies is False
