"""The `sender` condition: from one of the named addresses, numbers or domains.

    sender = ["ann@client.example", "+15555550123", "supplier.example"]

An entry with "@" in the middle is an address, one starting with "+" a number, and
anything else a domain (a leading "@" is allowed), which also covers its subdomains.
"""

from __future__ import annotations

from config.settings import Settings
from routing.conditions.base import Atom, BadArgument, ConditionKind, Facts, shown, strings


class Sender:
    def __init__(self, senders: frozenset[str], domains: frozenset[str]) -> None:
        self.senders, self.domains = senders, domains

    def check(self, facts: Facts) -> str | None:
        sender = facts.message.sender.lower()
        if sender in self.senders:
            return f"from {sender}"
        domain = sender.rpartition("@")[2] if "@" in sender else ""
        while domain:
            if domain in self.domains:
                return f"from {sender}, at {domain}"
            domain = domain.partition(".")[2]
        return None

    def describe(self) -> str:
        return f"from {shown(sorted(self.senders | self.domains))}"

    def atoms(self) -> set[Atom] | None:
        return {("sender", s) for s in self.senders} | {("domain", d) for d in self.domains}


def _build(argument: object, settings: Settings) -> Sender:
    senders, domains = set(), set()
    for entry in strings(argument, "sender"):
        entry = entry.strip().lower()
        if "@" in entry.lstrip("@") or entry.startswith("+"):
            senders.add(entry)
        elif entry.lstrip("@") and "." in entry:
            domains.add(entry.lstrip("@"))
        else:
            raise BadArgument(f"sender: {entry!r} is neither an address, a +number nor a domain")
    return Sender(frozenset(senders), frozenset(domains))


KINDS = (ConditionKind("sender", "the sender's address, number or domain", _build),)
