"""The `channel` condition: the message came over one of the named channels.

channel = "sms"                    or    channel = ["sms", "whatsapp"]
"""

from __future__ import annotations

from config.settings import Settings
from routing.conditions.base import Atom, BadArgument, ConditionKind, Facts, strings
from routing.message import CHANNELS


class Channel:
    def __init__(self, channels: tuple[str, ...]) -> None:
        self.channels = frozenset(c.lower() for c in channels)

    def check(self, facts: Facts) -> str | None:
        channel = facts.message.channel
        return f"came by {channel}" if channel in self.channels else None

    def describe(self) -> str:
        return "came by " + " or ".join(sorted(self.channels))

    def atoms(self) -> set[Atom] | None:
        return {("channel", c) for c in self.channels}


def _build(argument: object, settings: Settings) -> Channel:
    channels = strings(argument, "channel")
    for channel in channels:
        if channel.lower() not in CHANNELS:  # a typo would match nothing, silently
            raise BadArgument(f"channel: unknown channel {channel!r} (channels: {', '.join(CHANNELS)})")
    return Channel(channels)


KINDS = (ConditionKind("channel", "the channel the message came over", _build),)
