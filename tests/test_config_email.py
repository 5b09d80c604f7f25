"""The [email] table: parsing limits, their defaults, and bad values refused by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings
from config.settings import EmailSettings
from intake.email_parser import EmailLimits
from tests.conftest import OFFICE, assert_refused


def office_with(tmp_path: Path, email_table: str) -> Path:
    path = tmp_path / "office.toml"
    path.write_text(OFFICE.read_text() + "\n[email]\n" + email_table + "\n")
    return path


def test_without_an_email_table_the_defaults_apply() -> None:
    settings = load_settings(OFFICE, {})
    assert settings.email == EmailSettings()
    limits = EmailLimits.from_settings(settings)
    assert (limits.max_message_size, limits.max_parts, limits.max_depth) == (1048576, 1000, 30)


def test_the_email_table_sets_the_limits(tmp_path: Path) -> None:
    settings = load_settings(office_with(tmp_path, "max_parts = 50\nmax_depth = 8"), {})
    assert (settings.email.max_parts, settings.email.max_depth) == (50, 8)


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ("max_parts = 0", "email.max_parts", "must be from 1 to 100000"),
        ("max_parts = 'many'", "email.max_parts", "must be int, not str"),
        ("max_depth = 101", "email.max_depth", "must be from 1 to 100"),
        ("max_depth = true", "email.max_depth", "must be int, not bool"),
        ("max_size = 5", "email.max_size", "unknown key"),
    ],
)
def test_bad_email_limits_are_refused_naming_file_and_key(
    tmp_path: Path, table: str, key: str, problem: str
) -> None:
    path = office_with(tmp_path, table)
    assert_refused(path, key, problem)
