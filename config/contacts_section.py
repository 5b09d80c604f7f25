"""The [contacts] and [retention] tables, and the office's `region` for phone numbers."""

from __future__ import annotations

import phonenumbers

from config.settings import ContactSettings, RetentionSettings, Settings
from config.table import Table, bounded

# Ten years: a longer wait is a typo, and an office that keeps everything says so by
# running no retention job rather than by a huge number.
MAX_DAYS = 3660


def read_region(office: Table) -> str:
    """`region`: the two-letter country code numbers without a country code belong to."""
    region = office.text("region", Settings.region).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise office.fail("region", f"{region!r} is not a country code phone numbers know, such as GB or DE")
    return region


def read_contacts(table: Table) -> ContactSettings:
    table.only("same_request_hours")
    hours = table.get("same_request_hours", float, ContactSettings.same_request_hours)
    if not 0.0 <= hours <= 24 * 31:
        raise table.fail("same_request_hours", "must be from 0 (never suggest) to a month (744)")
    return ContactSettings(same_request_hours=hours)


def read_retention(table: Table) -> RetentionSettings:
    table.only("resolved_days", "spam_days")
    return RetentionSettings(
        resolved_days=bounded(table, "resolved_days", RetentionSettings.resolved_days, 1, MAX_DAYS),
        spam_days=bounded(table, "spam_days", RetentionSettings.spam_days, 1, MAX_DAYS),
    )
