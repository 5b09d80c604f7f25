"""The SMTP settings: recipient limit, PROXY protocol, catch-all domains and the submission listener."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from config.loading import load_settings
from tests.conftest import OFFICE, assert_refused
from tests.intake.email.test_smtp_submission import submission_office


def office_with(tmp_path: Path, smtp_text: str) -> Path:
    """The test office with lines added to its [smtp] table."""
    text = OFFICE.read_text().replace("[smtp]\n", "[smtp]\n" + smtp_text + "\n")
    path = tmp_path / "office.toml"
    path.write_text(text)
    return path


def test_the_defaults_refuse_unknown_users_and_allow_100_recipients() -> None:
    smtp = load_settings(OFFICE, {}).smtp
    assert (smtp.max_recipients, smtp.proxy_protocol, smtp.catch_all, smtp.submission) == (
        100,
        False,
        (),
        None,
    )


def test_the_connection_and_data_limits_have_generous_defaults_and_can_be_set(tmp_path: Path) -> None:
    smtp = load_settings(OFFICE, {}).smtp
    limits = (
        smtp.max_connections,
        smtp.max_connections_per_address,
        smtp.data_timeout_seconds,
        smtp.max_memory_per_connection,
    )
    assert limits == (100, 20, 300.0, 1024 * 1024)
    path = office_with(
        tmp_path,
        "max_connections = 500\nmax_connections_per_address = 50\n"
        "data_timeout_seconds = 600\nmax_memory_per_connection = 65536",
    )
    smtp = load_settings(path, {}).smtp
    limits = (
        smtp.max_connections,
        smtp.max_connections_per_address,
        smtp.data_timeout_seconds,
        smtp.max_memory_per_connection,
    )
    assert limits == (500, 50, 600.0, 65536)


def test_a_catch_all_names_a_domain_of_the_office_and_a_department(tmp_path: Path) -> None:
    path = office_with(
        tmp_path, 'max_recipients = 20\nproxy_protocol = true\ncatch_all = { "Office-Two.test" = "sales" }'
    )
    smtp = load_settings(path, {}).smtp
    assert (smtp.max_recipients, smtp.proxy_protocol) == (20, True)
    assert smtp.catch_all_department("office-two.test") == "sales"
    assert smtp.catch_all_department("office.test") is None


@pytest.mark.parametrize(
    ("smtp_text", "key", "problem"),
    [
        ("max_recipients = 0", "smtp.max_recipients", "from 1 to 1000"),
        ("proxy_protocol = 'yes'", "smtp.proxy_protocol", "must be bool"),
        (
            'catch_all = { "elsewhere.example" = "sales" }',
            "smtp.catch_all.elsewhere.example",
            "office.domains",
        ),
        (
            'catch_all = { "office.test" = "nobody" }',
            "smtp.catch_all.office.test",
            "unknown department 'nobody'",
        ),
        ('catch_all = { "office.test" = 3 }', "smtp.catch_all.office.test", "must be str"),
        ("submission = 'on'", "smtp.submission", "must be dict"),
        ("max_connections = 0", "smtp.max_connections", "from 1 to 100000"),
        ("max_connections_per_address = 101", "smtp.max_connections_per_address", "from 1 to 100"),
        ("data_timeout_seconds = 0", "smtp.data_timeout_seconds", "greater than 0"),
        ("data_timeout_seconds = 7200", "smtp.data_timeout_seconds", "at most 3600"),
        ("max_memory_per_connection = 100", "smtp.max_memory_per_connection", "from 4096 to"),
    ],
)
def test_bad_smtp_values_are_refused_naming_file_and_key(
    tmp_path: Path, smtp_text: str, key: str, problem: str
) -> None:
    assert_refused(office_with(tmp_path, smtp_text), key, problem)


def test_a_submission_listener_loads_its_certificate_and_users(tmp_path: Path) -> None:
    submission = load_settings(submission_office(tmp_path), {}).smtp.submission
    assert submission is not None
    assert (str(submission.listen), submission.tls_cert) == ("127.0.0.1:5870", tmp_path / "cert.pem")
    assert [name for name, _ in submission.users] == ["scanner"]


@pytest.mark.parametrize(
    ("damage", "key", "problem"),
    [
        (lambda d: (d / "key.pem").unlink(), "smtp.submission.tls_cert", "cannot be loaded"),
        (
            lambda d: (d / "cert.pem").write_text("not a certificate"),
            "smtp.submission.tls_cert",
            "cannot be loaded",
        ),
        (lambda d: (d / "users").unlink(), "smtp.submission.users_file", "cannot be read"),
        (
            lambda d: (d / "users").write_text("scanner secret\n"),
            "smtp.submission.users_file",
            "line 1 is not",
        ),
        (
            lambda d: (d / "users").write_text("scanner:plain-password\n"),
            "smtp.submission.users_file",
            "line 1",
        ),
        (lambda d: (d / "users").write_text("# nobody\n"), "smtp.submission.users_file", "names no user"),
    ],
)
def test_a_broken_submission_setup_is_refused_naming_file_and_key(
    tmp_path: Path, damage: Callable[[Path], object], key: str, problem: str
) -> None:
    path = submission_office(tmp_path)
    damage(tmp_path)
    assert_refused(path, key, problem)


def test_a_repeated_user_and_an_unknown_submission_key_are_refused(tmp_path: Path) -> None:
    path = submission_office(tmp_path)
    line = f"scanner:{generate_password_hash('x')}\n"
    (tmp_path / "users").write_text(line + line)
    assert_refused(path, "smtp.submission.users_file", "line 2 repeats user 'scanner'")
    path.write_text(path.read_text() + "port = 587\n")
    assert_refused(path, "smtp.submission.port", "unknown key")
