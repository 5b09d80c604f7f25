"""The `hours` condition at the office's odd moments: daylight-saving changes, midnight,
the ends of months and years (the cases from tests/support/office_time.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.loading import ConfigError
from intake.email.parser import parse_email
from routing.engine import Router
from tests.support.mail import email_bytes
from tests.support.office_time import OFFICE_ZONE, YEAR, ZONES, changes, plain_walls
from tests.support.routers import office_with, rule_under_test

# A schedule with spans at every odd moment of the four zones: Saturday's differ from
# Sunday's, so the day a moment falls on in the office counts too.
WATCH = """
[schedules.watch]
mon = ["00:00-00:30", "02:30-03:30", "23:30-24:00"]
tue = ["00:00-00:30", "02:30-03:30", "23:30-24:00"]
wed = ["00:00-00:30", "02:30-03:30", "23:30-24:00"]
thu = ["00:00-00:30", "02:30-03:30", "23:30-24:00"]
fri = ["00:00-00:30", "02:30-03:30", "23:30-24:00"]
sat = ["23:30-24:00"]
sun = ["00:00-00:30", "02:30-03:30"]
"""
SPANS = {
    **{day: [(0, 30), (150, 210), (1410, 1440)] for day in range(5)},
    5: [(1410, 1440)],
    6: [(0, 30), (150, 210)],
}


def watched(local: datetime) -> bool:
    """Whether WATCH has the office open at this local time, by its minutes of the day."""
    minute = local.hour * 60 + local.minute + local.second / 60
    return any(start <= minute < end for start, end in SPANS[local.weekday()])


def moments_around(zone: ZoneInfo) -> Iterator[datetime]:
    """Every minute of the 75 before and after each change, and around each odd midnight,
    with a moment 30 seconds before midnight."""
    for change in changes(zone):
        for minutes in range(-75, 76):
            yield change.at + timedelta(minutes=minutes)
    for _, moment in plain_walls(zone):
        for seconds in (-90, -30, 0, 30, 60):
            yield moment + timedelta(seconds=seconds)


@pytest.mark.parametrize("name", ZONES)
def test_the_hours_condition_follows_the_configured_local_hours(tmp_path: Path, name: str) -> None:
    zone = ZoneInfo(name)
    settings = dataclasses.replace(
        office_with(tmp_path, WATCH + rule_under_test('hours = "watch"')), timezone=zone
    )
    router = Router(settings)
    message = parse_email(email_bytes(to="hello@office.test"), received_at=datetime(YEAR, 1, 1, tzinfo=UTC))
    checked = 0
    for moment in moments_around(zone):
        local = moment.astimezone(zone)
        decision = router.route(dataclasses.replace(message, received_at=moment))
        assert (decision.department_id == "billing") == watched(local), (moment, local)
        assert router.route(dataclasses.replace(message, received_at=moment), explain=True).department_id == (
            decision.department_id
        )
        if watched(local):
            hit = decision.outcomes[0]
            assert hit.reason.startswith(f"arrived {local:%a %H:%M}, schedule watch open"), hit.reason
        checked += 1
    assert checked >= len(plain_walls(zone)) * 5


def test_a_span_may_end_at_midnight_but_no_later(tmp_path: Path) -> None:
    settings = office_with(tmp_path, '[schedules.late]\nfri = ["18:00-24:00"]\nsat = ["00:00-24:00"]\n')
    hours = settings.schedule("late")
    zone = ZoneInfo(OFFICE_ZONE)
    friday = datetime(YEAR, 12, 4, 23, 59, 59, 999999, tzinfo=zone)
    assert hours.is_open(friday, zone) and hours.is_open(friday + timedelta(microseconds=1), zone)
    assert hours.is_open(friday + timedelta(days=1), zone)  # the whole of Saturday
    assert not hours.is_open(friday + timedelta(days=1, microseconds=1), zone)  # Sunday has none
    assert not hours.is_open(friday.replace(hour=17, minute=59), zone)
    for span, problem in (
        ("18:00-24:01", "is not a real time of day"),
        ("24:00-24:00", "is not a real time of day"),
    ):
        with pytest.raises(ConfigError, match=problem):
            office_with(tmp_path, f'[schedules.late]\nfri = ["{span}"]\n')
