"""A local time a person types (a due time, a callback time) as a moment: one the office's
clocks skip is refused, one they show twice is the first; the cases from
tests/support/office_time.py."""

from __future__ import annotations

from datetime import UTC, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.queues.triage import SkippedTime, local_moment
from tests.support.office_time import ZONES, changes, plain_walls, repeated_walls, skipped_walls


def test_the_cases_come_from_the_zone_data() -> None:
    for name in ZONES:
        zone = ZoneInfo(name)
        found = changes(zone)
        assert len(found) == (0 if name == "Asia/Tokyo" else 2), name
        assert sorted(change.shift for change in found) == (
            [] if not found else [-timedelta(hours=1), timedelta(hours=1)]
        )
        for change in found:
            for wall in skipped_walls(change) if change.shift > timedelta(0) else []:
                moment = wall.replace(tzinfo=zone)
                assert moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall, (name, wall)
    # The southern zones change the other way round: back in April, forward in September/October.
    santiago = changes(ZoneInfo("America/Santiago"))
    assert [(c.at.month, c.shift > timedelta(0)) for c in santiago] == [(4, False), (9, True)]
    assert [c.wall.time() for c in santiago] == [time(0), time(0)]  # at midnight


# Local times a person types: a due time, a callback time, --since.


@pytest.mark.parametrize("name", ZONES)
def test_a_local_time_that_does_not_exist_is_refused_and_a_repeated_one_is_the_first(name: str) -> None:
    zone = ZoneInfo(name)
    for change in changes(zone):
        if change.shift > timedelta(0):
            for wall in skipped_walls(change):
                with pytest.raises(SkippedTime, match=f"does not exist in {name}: the clocks skip it"):
                    local_moment(wall, zone)
        else:
            for wall, first in repeated_walls(change):
                assert local_moment(wall, zone).astimezone(UTC) == first, wall
    for wall, moment in plain_walls(zone):
        assert local_moment(wall, zone).astimezone(UTC) == moment, wall
