"""The `recipient` condition: sent to one of the named addresses or called numbers.

recipient = ["sales@office.example", "+441632960001"]
"""

from __future__ import annotations

from config.settings import Settings
from routing.conditions.base import Atom, ConditionKind, Facts, shown, strings


class Recipient:
    def __init__(self, recipients: tuple[str, ...]) -> None:
        self.recipients = frozenset(r.lower() for r in recipients)

    def check(self, facts: Facts) -> str | None:
        for recipient in facts.message.recipients:
            if recipient.lower() in self.recipients:
                return f"sent to {recipient}"
        return None

    def describe(self) -> str:
        return f"sent to {shown(sorted(self.recipients))}"

    def atoms(self) -> set[Atom] | None:
        return {("recipient", r) for r in self.recipients}


def _build(argument: object, settings: Settings) -> Recipient:
    return Recipient(strings(argument, "recipient"))


KINDS = (ConditionKind("recipient", "the address or number the message was sent to", _build),)
