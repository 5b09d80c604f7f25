"""Deciding which department a message belongs to, and recording why.

The order of decisions: a department a person chose when taking the message by
hand (rules then only add priority and tags); the config's named rules, in order (the first that routes
wins, unless it says to continue); then the addresses and numbers the departments
own; then a catch-all department of the recipient's domain; then the learned suggestion, which routes only when it is confident; then the
default department (the front desk). Every step that was tried is recorded as a hit
or a miss, and a rule that fails is recorded and skipped: a message is never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple, Protocol

from sqlalchemy.orm import Session

from config.domains import address_key
from config.settings import PRIORITIES, BuiltInStep, Settings
from routing import undecided
from routing.conditions.base import Facts, Registry
from routing.conditions.registry import standard_registry
from routing.learning import Classifier, Learned, Suggestion
from routing.lessons import Lesson, lesson_of
from routing.message import InboundMessage
from routing.rules import CompiledRule, RuleSet
from routing.senders import LOOKALIKE_TAG

log = logging.getLogger(__name__)


class OutcomeKind(StrEnum):
    """What said its word in a routing trace: a config rule, or one of the engine's own steps."""

    RULE = "rule"
    STEP = "step"


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule (or step) said about one message.

    `rule` is the rule's or the step's name (the key stored traces have always used);
    `kind` says which of the two it is, so that no name can pass for the other.
    """

    rule: str
    matched: bool
    reason: str
    kind: OutcomeKind

    def stored(self) -> dict[str, object]:
        """The outcome as an item's `routing_hits` keeps it: dataclasses.asdict's shape,
        without its recursive copy (this runs for every outcome of every message)."""
        return {"rule": self.rule, "matched": self.matched, "reason": self.reason, "kind": self.kind}

    @classmethod
    def of_rule(cls, name: str, matched: bool, reason: str) -> RuleOutcome:
        return cls(name, matched, reason, OutcomeKind.RULE)

    @classmethod
    def of_step(cls, step: BuiltInStep, matched: bool, reason: str) -> RuleOutcome:
        return cls(step.value, matched, reason, OutcomeKind.STEP)


@dataclass(frozen=True)
class RoutingDecision:
    department_id: str
    reason: str
    outcomes: tuple[RuleOutcome, ...]
    other_departments: tuple[str, ...] = ()
    priority: str = "normal"
    tags: tuple[str, ...] = ()
    spam: bool = False
    # Marked as machine mail by a rule: stored, but nobody is notified.
    machine: bool = False
    suggestion: Suggestion | None = None
    # Why a person must decide where the item belongs, or None when a rule or an
    # address settled it (shown first on the front desk).
    decision_needed: str | None = None
    # What a person's correction of this decision would teach the suggestion.
    lesson: Lesson | None = None


@dataclass
class _Draft:
    """A decision being made, step by step."""

    department_id: str | None = None
    reason: str = ""
    outcomes: list[RuleOutcome] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    priority: str | None = None
    tags: list[str] = field(default_factory=list)
    spam: bool = False
    machine: bool = False
    suggestion: Suggestion | None = None
    decision_needed: str | None = None
    lesson: Lesson | None = None
    # The address and the words disagree without a confident answer: a person decides.
    conflict: bool = False

    def route(self, department_id: str, reason: str) -> None:
        self.department_id, self.reason = department_id, reason

    def apply(self, rule: CompiledRule) -> str:
        """Carry out a matched rule's action; say what it did."""
        action = rule.settings
        done = []
        if action.route is not None:
            if self.department_id is None:
                self.route(action.route, f"rule {rule.name!r} routes to {action.route}")
                done.append(f"routed to {action.route}")
            else:
                done.append(f"already routed, so not to {action.route}")
        if action.priority is not None:
            # The most urgent priority any matching rule sets wins.
            current = PRIORITIES.index(self.priority) if self.priority else -1
            self.priority = PRIORITIES[max(current, PRIORITIES.index(action.priority))]
            done.append(f"priority {action.priority}")
        self.tags.extend(t for t in action.tags if t not in self.tags)
        done += [f"tag {t}" for t in action.tags]
        if action.spam:
            self.spam = True
            done.append("marked spam")
        if action.machine:
            self.machine = True
            done.append("marked machine mail")
        return ", ".join(done)

    def decision(self, default: str) -> RoutingDecision:
        return RoutingDecision(
            department_id=self.department_id or default,
            reason=self.reason,
            outcomes=tuple(self.outcomes),
            other_departments=tuple(self.others),
            priority=self.priority or "normal",
            tags=tuple(self.tags),
            spam=self.spam,
            machine=self.machine,
            suggestion=self.suggestion,
            decision_needed=self.decision_needed,
            lesson=self.lesson,
        )


class _Reading(NamedTuple):
    """A message as routing reads it: its facts for the rules, its lesson for the learner."""

    message: InboundMessage
    facts: Facts
    lesson: Lesson


class Router:
    """The routing of one config: rules compiled once, then any number of messages."""

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.rules = RuleSet(settings, registry or standard_registry())
        self.classifier = Classifier(settings)
        self.known = frozenset(department.id for department in settings.departments)
        # Keyed as config.domains compares addresses: any spelling of an office domain the
        # door accepts (case, xn-- or Unicode) finds its department.
        self.owners = {
            address_key(contact): department.id
            for department in settings.departments
            if department.id != settings.default_department
            for contact in (*department.addresses, *department.phones)
        }

    def route(
        self, message: InboundMessage, session: Session | None = None, *, explain: bool = False
    ) -> RoutingDecision:
        """Decide for `message`; `session` lets the suggestion read what was learned.

        With `explain`, every rule is checked and recorded, not only those the index
        picks out; the decision is the same.
        """
        reading = self._read(message)
        return self._decide(reading, self.classifier.read(reading.lesson, session), explain)

    def route_all(
        self, messages: Iterable[InboundMessage], session: Session | None = None
    ) -> list[RoutingDecision]:
        """route() for each message, with what was learned of all their words read at once
        (one statement for a batch rather than one a message). Each message is read as
        `messages` yields it, so that a worker reads one while the next is parsed."""
        readings = [self._read(message) for message in messages]
        learned = self.classifier.read_all([reading.lesson for reading in readings], session)
        return [self._decide(reading, known, False) for reading, known in zip(readings, learned, strict=True)]

    def _read(self, message: InboundMessage) -> _Reading:
        facts = Facts(message, self.settings, self.rules.text_keys)
        lesson = lesson_of(facts.read, message.sender, self.settings, self.classifier.seed_vocabulary)
        return _Reading(message, facts, lesson)

    def _decide(self, reading: _Reading, learned: Learned, explain: bool) -> RoutingDecision:
        message, facts, lesson = reading
        draft = _Draft(lesson=lesson)
        self._by_placement(message, draft)
        candidates = self.rules.rules if explain else self.rules.candidates(facts)
        self._run_rules(candidates, facts, draft)
        if draft.department_id is None:
            found = self._recipients(message)
            # The address used speaks for its department, as evidence among the words; a
            # reply's address is only the one the last answer came from, and says less.
            addressed = found[0][1] if found else None
            reply = facts.read.old_subject
            draft.suggestion = self.classifier.suggest(lesson, learned, addressed, reply=reply)
            self._by_recipient(found, draft, reply)
        if draft.department_id is None:
            self._by_catch_all(message, draft)
        if draft.department_id is None and not draft.conflict:
            self._suggest(draft)
        if draft.department_id is None:
            default = self.settings.default_department
            draft.reason = f"no rule matched; sent to the default department {default}"
        self._by_sender(learned, draft)
        draft.decision_needed = _decision_needed(message, draft, self.settings.routing.suggest_threshold)
        skipped = len(self.rules.rules) - len(candidates)
        if skipped and not explain:
            draft.reason += f" ({skipped} other rules could not apply)"
        return draft.decision(self.settings.default_department)

    def _run_rules(self, rules: list[CompiledRule], facts: Facts, draft: _Draft) -> None:
        for rule in rules:
            try:
                reason = rule.condition.check(facts)
            except Exception as error:  # a broken rule must not lose the message
                log.exception("routing rule %s failed", rule.name)
                draft.outcomes.append(RuleOutcome.of_rule(rule.name, False, f"rule failed: {error!r}"))
                continue
            if reason is None:
                draft.outcomes.append(RuleOutcome.of_rule(rule.name, False, rule.wanted))
                continue
            draft.outcomes.append(RuleOutcome.of_rule(rule.name, True, f"{reason}: {draft.apply(rule)}"))
            if rule.settings.stop:
                return

    def _by_placement(self, message: InboundMessage, draft: _Draft) -> None:
        """The department the person who took the message down chose, if still known."""
        placement = message.placement
        if placement is None:
            return
        if placement.department_id not in self.known:
            reason = f"{placement.by} chose {placement.department_id}, which is no department now"
            draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.PLACEMENT, False, reason))
            return
        reason = f"taken by hand by {placement.by} for {placement.department_id}"
        draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.PLACEMENT, True, reason))
        draft.route(placement.department_id, reason)

    def _recipients(self, message: InboundMessage) -> list[tuple[str, str]]:
        """(recipient, department) for each department whose address or number the message used.

        Recipients are tried in the order the message lists them, so the first department
        named comes first. For email that order is the To header, then Cc, then envelope
        recipients neither names (Bcc): To: sales@ with Cc: billing@ gives sales first,
        whatever order the sending server gave at RCPT.
        """
        found: list[tuple[str, str]] = []
        for recipient in message.recipients:
            department_id = self.owners.get(address_key(recipient))
            if department_id and department_id not in (d for _, d in found):
                found.append((recipient, department_id))
        return found

    def _by_recipient(self, found: list[tuple[str, str]], draft: _Draft, reply: bool) -> None:
        """The department that owns an address or number the message was sent to, unless the
        words and the sender read confidently as another department's, the address counted
        against them (an emergency on the accounting line, a supplier's invoice sent to the
        payments address), on more than one word or in a reply: then the suggestion routes
        it. The default department is no such reading: an address is a better answer than
        "nobody yet"."""
        if not found:
            draft.outcomes.append(
                RuleOutcome.of_step(BuiltInStep.RECIPIENT, False, "no recipient belongs to a department")
            )
            return
        recipient, department_id = found[0]
        reason = f"sent to {recipient}, which belongs to {department_id}"
        suggestion = draft.suggestion
        threshold = self.settings.routing.suggest_threshold
        if suggestion is not None and suggestion.department_id not in (
            department_id,
            self.settings.default_department,
        ):
            # The words outweigh the address, counted among them: confidently enough, the
            # suggestion routes; else the evidence conflicts, and a person decides.
            confident = suggestion.confidence >= threshold and (
                suggestion.well_founded or (reply and not suggestion.contested)
            )
            said = f"{reason}, but it reads as {suggestion.department_id}'s"
            if not confident:
                said += "; the front desk decides"
                draft.conflict = True
            draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.RECIPIENT, False, said))
            return
        draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.RECIPIENT, True, reason))
        draft.route(department_id, reason)
        draft.others = [d for _, d in found[1:]]

    def _by_catch_all(self, message: InboundMessage, draft: _Draft) -> None:
        """An unknown address at a domain whose unknown addresses a department takes."""
        for recipient in message.recipients:
            department_id = self.settings.smtp.catch_all_department(recipient.rpartition("@")[2])
            if department_id:
                reason = f"sent to {recipient}; {department_id} takes its domain's unknown addresses"
                draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.CATCH_ALL, True, reason))
                draft.route(department_id, reason)
                return
        reason = "no recipient at a domain with a catch-all department"
        draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.CATCH_ALL, False, reason))

    def _by_sender(self, learned: Learned, draft: _Draft) -> None:
        """A sender that imitates a known one is tagged, whatever routed the message."""
        sender = learned.sender
        if sender.imitates is not None:
            reason = f"{sender.reason}: no trust, tagged {LOOKALIKE_TAG}"
            draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.SENDER, False, reason))
            draft.tags.append(LOOKALIKE_TAG)
        elif sender.department_id is not None:
            draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.SENDER, True, sender.reason))

    def _suggest(self, draft: _Draft) -> None:
        suggestion = draft.suggestion
        if suggestion is None:
            draft.outcomes.append(
                RuleOutcome.of_step(BuiltInStep.SUGGESTION, False, "no word the suggestion knows")
            )
            return
        said = suggestion.describe()
        threshold = self.settings.routing.suggest_threshold
        if suggestion.department_id == self.settings.default_department:
            draft.outcomes.append(
                RuleOutcome.of_step(BuiltInStep.SUGGESTION, False, f"suggests {said}, the default anyway")
            )
            return
        if suggestion.confidence < threshold:
            draft.outcomes.append(
                RuleOutcome.of_step(BuiltInStep.SUGGESTION, False, f"suggests {said}, below {threshold:.2f}")
            )
            return
        if not suggestion.well_founded:
            said += f", on {suggestion.too_little()}"
            draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.SUGGESTION, False, f"suggests {said}"))
            return
        draft.outcomes.append(RuleOutcome.of_step(BuiltInStep.SUGGESTION, True, f"suggests {said}"))
        draft.route(suggestion.department_id, said)


def _decision_needed(message: InboundMessage, draft: _Draft, threshold: float) -> str | None:
    """Why a person should decide where this message belongs, if they should."""
    rule_matched = any(o.matched and o.kind is OutcomeKind.RULE for o in draft.outcomes)
    if message.machine_kind and not draft.machine and not rule_matched:
        return str(undecided.machine_mail(message.machine_kind))
    suggestion = draft.suggestion
    if draft.conflict and suggestion is not None:
        return str(undecided.words_disagree(suggestion.department_id, suggestion.confidence))
    if draft.department_id is None and suggestion is not None and suggestion.confidence < threshold:
        return str(undecided.below_threshold(suggestion.department_id, suggestion.confidence, threshold))
    if draft.department_id is None and suggestion is not None and not suggestion.well_founded:
        return str(undecided.too_little(suggestion.department_id, suggestion.contested, suggestion.evidence))
    if draft.department_id is None:
        return str(undecided.UNROUTED)
    return None


class Routes(Protocol):
    @property
    def settings(self) -> Settings: ...

    def route(self, message: InboundMessage, session: Session | None = None) -> RoutingDecision: ...

    def route_all(
        self, messages: Iterable[InboundMessage], session: Session | None = None
    ) -> list[RoutingDecision]: ...


class RouterHolder:
    """The router in use, replaced whole when the config is reloaded.

    Each message reads `current` once, so it is routed wholly by the old router or
    wholly by the new one; assigning an attribute is atomic, so no lock is needed.
    """

    def __init__(self, router: Router) -> None:
        self.current = router

    def swap(self, router: Router) -> None:
        self.current = router

    @property
    def settings(self) -> Settings:
        return self.current.settings

    def route(self, message: InboundMessage, session: Session | None = None) -> RoutingDecision:
        return self.current.route(message, session)

    def route_all(
        self, messages: Iterable[InboundMessage], session: Session | None = None
    ) -> list[RoutingDecision]:
        return self.current.route_all(messages, session)
