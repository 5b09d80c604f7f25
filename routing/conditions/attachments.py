"""The `has_attachments` condition: the message came with files (or, if false, without).

has_attachments = true
"""

from __future__ import annotations

from config.settings import Settings
from routing.conditions.base import Atom, BadArgument, ConditionKind, Facts


class HasAttachments:
    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted

    def check(self, facts: Facts) -> str | None:
        count = len(facts.message.attachments)
        if (count > 0) != self.wanted:
            return None
        return f"has {count} attachment{'s' if count != 1 else ''}" if count else "has no attachments"

    def describe(self) -> str:
        return "has attachments" if self.wanted else "has no attachments"

    def atoms(self) -> set[Atom] | None:
        return {("attachments", str(self.wanted))}


def _build(argument: object, settings: Settings) -> HasAttachments:
    if not isinstance(argument, bool):
        raise BadArgument("has_attachments must be true or false")
    return HasAttachments(argument)


KINDS = (ConditionKind("has_attachments", "whether files came with the message", _build),)
