"""The [email] table: parsing limits, their defaults, and bad values refused by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings
from config.settings import EmailSettings
from intake.email.budgets import HeaderBudgets
from intake.email.parse_workers import WorkerLimits
from intake.email.parser import EmailLimits
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


def test_the_email_table_sets_the_budgets_and_the_parsing_limits(tmp_path: Path) -> None:
    table = "\n".join(
        [
            "max_header_bytes = 2048",
            "max_header_size = 1000",
            "max_headers = 20",
            "max_encoded_words = 7",
            "max_parameters = 3",
            "max_addresses = 4",
            "parse_workers = 1",
            "parse_seconds = 2",
            "parse_memory_mb = 256",
        ]
    )
    settings = load_settings(office_with(tmp_path, table), {})
    assert EmailLimits.from_settings(settings).headers == HeaderBudgets(2048, 1000, 20, 7, 3, 4)
    assert WorkerLimits.from_settings(settings.email) == WorkerLimits(1, 2, 256)


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ("max_parts = 0", "email.max_parts", "must be from 1 to 100000"),
        ("max_parts = 'many'", "email.max_parts", "must be int, not str"),
        ("max_depth = 101", "email.max_depth", "must be from 1 to 100"),
        ("max_depth = true", "email.max_depth", "must be int, not bool"),
        ("max_size = 5", "email.max_size", "unknown key"),
        ("max_header_size = 100", "email.max_header_size", "must be from 998 to 67108864"),
        ("max_encoded_words = 0", "email.max_encoded_words", "must be from 1 to 1000000"),
        ("parse_memory_mb = 10", "email.parse_memory_mb", "must be from 64 to 1048576"),
        ("parse_seconds = 1.5", "email.parse_seconds", "must be int, not float"),
    ],
)
def test_bad_email_limits_are_refused_naming_file_and_key(
    tmp_path: Path, table: str, key: str, problem: str
) -> None:
    path = office_with(tmp_path, table)
    assert_refused(path, key, problem)
