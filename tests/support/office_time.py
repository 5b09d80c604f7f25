"""The office's local time at its odd moments, worked out from the time zone data.

For the office's zone (Europe/Bucharest), one on the other hemisphere whose clocks change
at midnight (America/Santiago), one changing at 02:00 (Australia/Sydney) and one without
daylight saving (Asia/Tokyo): every change of a year, the local times the clocks skip,
those they show twice, and the minutes around them; and midnights, the end of a month
and of a year, 29 February. The tests of each part check theirs against these cases
(tests/routing/queues/test_local_times.py checks the cases themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

OFFICE_ZONE = "Europe/Bucharest"
ZONES = (OFFICE_ZONE, "America/Santiago", "Australia/Sydney", "Asia/Tokyo")
YEAR = 2026
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Change:
    """A daylight-saving change: the UTC moment of it, the offsets before and after."""

    at: datetime
    before: timedelta
    after: timedelta

    @property
    def wall(self) -> datetime:
        """The local wall-clock time at which the clocks are changed (read with the old offset)."""
        return (self.at + self.before).replace(tzinfo=None)

    @property
    def shift(self) -> timedelta:
        return self.after - self.before


def changes(zone: ZoneInfo, year: int = YEAR) -> list[Change]:
    """Every change of the zone's UTC offset in the year, to the minute."""
    found = []
    start = datetime(year, 1, 1, tzinfo=UTC)
    previous = _offset(start, zone)
    for hours in range(1, 24 * 366):
        moment = start + timedelta(hours=hours)
        offset = _offset(moment, zone)
        if offset != previous:
            first = next(
                moment - timedelta(minutes=60 - m)
                for m in range(61)
                if _offset(moment - timedelta(minutes=60 - m), zone) == offset
            )
            found.append(Change(first, previous, offset))
        previous = offset
    return found


def _offset(moment: datetime, zone: ZoneInfo) -> timedelta:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def skipped_walls(change: Change) -> list[datetime]:
    """Local times that do not exist: the first, the second and the last minute the clocks skip."""
    return [change.wall, change.wall + MINUTE, change.wall + change.shift - MINUTE]


def repeated_walls(change: Change) -> list[tuple[datetime, datetime]]:
    """Local times shown twice, each with the first of its two moments (in UTC)."""
    start = change.wall + change.shift  # the clocks go back to here
    walls = [start, start + MINUTE, change.wall - MINUTE]
    return [(wall, (wall - change.before).replace(tzinfo=UTC)) for wall in walls]


def plain_walls(zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Times that exist once, each with its moment in UTC: the minutes just outside every
    change, midnights, the ends of months and of the year, 29 February."""
    found = []
    for change in changes(zone):
        if change.shift > timedelta(0):  # forward: the minute before the gap, the one after it
            found += [(change.wall - MINUTE, change.at - MINUTE), (change.wall + change.shift, change.at)]
        else:  # back: the minute before the repeated span, and its end, each shown once
            found += [(change.wall + change.shift - MINUTE, change.at + change.shift - MINUTE)]
            found += [(change.wall, change.at - change.shift)]
    odd = [
        datetime(YEAR, 1, 1, 0, 0),
        datetime(YEAR, 1, 31, 23, 59),
        datetime(YEAR, 2, 1, 0, 0),
        datetime(YEAR, 6, 30, 23, 59),
        datetime(YEAR, 12, 31, 23, 59),
        datetime(YEAR + 1, 1, 1, 0, 0),
        datetime(2028, 2, 28, 23, 59),
        datetime(2028, 2, 29, 0, 0),
        datetime(2028, 2, 29, 12, 0),
        datetime(2028, 2, 29, 23, 59),
        datetime(2028, 3, 1, 0, 0),
    ]
    for wall in odd:
        # Months from every change: the offset half a day earlier is the wall time's own.
        offset = _offset(wall.replace(tzinfo=UTC) - timedelta(hours=12), zone)
        found.append((wall, (wall - offset).replace(tzinfo=UTC)))
    return found
