"""Deciding which department a message belongs to, and recording why.

The router runs named rules in order; each says whether it matched and why, and the
first that names a department wins. When none does, or a rule fails, the message goes
to the default department (the front desk): a message is never routed nowhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from config.settings import Settings
from routing.message import InboundMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule said about one message."""

    rule: str
    matched: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    department_id: str | None
    reason: str
    other_departments: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingDecision:
    department_id: str
    reason: str
    outcomes: tuple[RuleOutcome, ...]
    other_departments: tuple[str, ...] = ()


class Rule(Protocol):
    name: str

    def check(self, message: InboundMessage) -> Verdict: ...


class RecipientRule:
    """Matches a message sent to an address or number that a department owns.

    The rule for a message to several departments: recipients are tried in the order
    the message lists them, so the first department named wins and the others are
    recorded on the decision (and so on the item). For email that order is the To
    header, then Cc, then envelope recipients neither names (Bcc): To: sales@ with
    Cc: billing@ goes to sales, whatever order the sending server gave at RCPT.
    """

    name = "recipient"

    def __init__(self, settings: Settings) -> None:
        self.owners = {
            contact.lower(): department.id
            for department in settings.departments
            for contact in (*department.addresses, *department.phones)
        }

    def check(self, message: InboundMessage) -> Verdict:
        found: list[tuple[str, str]] = []
        for recipient in message.recipients:
            department_id = self.owners.get(recipient.lower())
            if department_id and department_id not in (d for _, d in found):
                found.append((recipient, department_id))
        if not found:
            return Verdict(None, "no recipient belongs to a department")
        recipient, department_id = found[0]
        others = tuple(d for _, d in found[1:])
        return Verdict(department_id, f"sent to {recipient}, which belongs to {department_id}", others)


class CatchAllRule:
    """Matches mail to an unknown address at a domain that has a catch-all department.

    It runs after RecipientRule, so a known address always wins over a catch-all.
    """

    name = "catch-all"

    def __init__(self, settings: Settings) -> None:
        self.smtp = settings.smtp

    def check(self, message: InboundMessage) -> Verdict:
        for recipient in message.recipients:
            department_id = self.smtp.catch_all_department(recipient.rpartition("@")[2])
            if department_id:
                return Verdict(
                    department_id,
                    f"sent to {recipient}; {department_id} takes its domain's unknown addresses",
                )
        return Verdict(None, "no recipient at a domain with a catch-all department")


class Router:
    """Runs the rules in order; built once per configuration."""

    def __init__(self, settings: Settings, rules: list[Rule] | None = None) -> None:
        self.default_department = settings.default_department
        self.rules: list[Rule] = (
            rules if rules is not None else [RecipientRule(settings), CatchAllRule(settings)]
        )

    def route(self, message: InboundMessage) -> RoutingDecision:
        outcomes: list[RuleOutcome] = []
        for rule in self.rules:
            try:
                verdict = rule.check(message)
            except Exception as error:  # a broken rule must not lose the message
                log.exception("routing rule %s failed", rule.name)
                outcomes.append(RuleOutcome(rule.name, False, f"rule failed: {error!r}"))
                continue
            outcomes.append(RuleOutcome(rule.name, verdict.department_id is not None, verdict.reason))
            if verdict.department_id is not None:
                return RoutingDecision(
                    verdict.department_id, verdict.reason, tuple(outcomes), verdict.other_departments
                )
        reason = f"no rule matched; sent to the default department {self.default_department}"
        return RoutingDecision(self.default_department, reason, tuple(outcomes))
