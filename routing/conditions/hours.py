"""The `hours` condition: the message arrived while the office (or a schedule) was open.

hours = "open"          the office's opening hours
hours = "closed"        outside them
hours = "on-call"       while the named schedule ([schedules.on-call]) runs
"""

from __future__ import annotations

from config.settings import OpeningHours, Settings
from routing.conditions.base import Atom, BadArgument, ConditionKind, Facts


class Hours:
    def __init__(self, name: str, hours: OpeningHours, wanted: bool) -> None:
        self.name, self.hours, self.wanted = name, hours, wanted

    def check(self, facts: Facts) -> str | None:
        at = facts.message.received_at
        if self.hours.is_open(at, facts.settings.timezone) != self.wanted:
            return None
        local = at.astimezone(facts.settings.timezone).strftime("%a %H:%M")
        return f"arrived {local}, {self.describe()}"

    def describe(self) -> str:
        return f"{self.name} {'open' if self.wanted else 'closed'}"

    def atoms(self) -> set[Atom] | None:
        return None


def _build(argument: object, settings: Settings) -> Hours:
    if not isinstance(argument, str):
        raise BadArgument('hours must be "open", "closed" or the name of a schedule')
    if argument in ("open", "closed"):
        return Hours("office", settings.hours, argument == "open")
    try:
        return Hours(f"schedule {argument}", settings.schedule(argument), True)
    except KeyError:
        known = ", ".join(name for name, _ in settings.schedules) or "none defined"
        raise BadArgument(f"hours: unknown schedule {argument!r} (schedules: {known})") from None


KINDS = (ConditionKind("hours", "opening hours: open, closed or a named schedule", _build),)
