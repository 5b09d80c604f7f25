"""`--since` (and the replay page's "since"): a date or time without a zone is the office's."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from intake.rules.replay import BadSpan, parse_since
from tests.support.office_time import ZONES, changes, plain_walls, repeated_walls, skipped_walls


@pytest.mark.parametrize("name", ZONES)
def test_since_reads_a_date_in_the_offices_zone(name: str) -> None:
    zone = ZoneInfo(name)
    now = datetime(2029, 1, 1, tzinfo=UTC)
    for wall, moment in plain_walls(zone):
        assert parse_since(wall.isoformat(), now, zone).astimezone(UTC) == moment, wall
        if wall.time() == time(0):
            assert parse_since(wall.date().isoformat(), now, zone).astimezone(UTC) == moment, wall
    for change in changes(zone):
        if change.shift > timedelta(0):
            for wall in skipped_walls(change):
                with pytest.raises(BadSpan, match="does not exist"):
                    parse_since(wall.isoformat(timespec="minutes"), now, zone)
        else:
            for wall, first in repeated_walls(change):
                assert (
                    parse_since(wall.isoformat(), now, zone).astimezone(UTC) == first
                )  # the earlier: nothing left out
    # A time with its own offset is taken as written.
    assert parse_since("2026-03-29T03:30+02:00", now, zone) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
