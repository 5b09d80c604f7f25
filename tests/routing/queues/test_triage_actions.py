"""The triage actions on an item: what each does, its audit event, and what each refuses.

A dialogue in steps: mail arrives, a receptionist claims it, hands it on, notes, resolves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.people.accounts import Person
from routing.queues import triage
from routing.store.database import transaction
from routing.store.models import Item
from tests.support.mail import email_bytes
from tests.support.people import new_person
from tests.support.smtp import stored_item

MONDAY = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def deliver(runtime: Runtime, message_id: str = "<a1@client.example>", to: str = "sales@office.test") -> int:
    raw = email_bytes(subject="Order", message_id=message_id, to=to, body="Please send 20 chairs.\r\n")
    return runtime.deliverer.deliver(parse_email(raw, received_at=MONDAY)).item_id


def events(runtime: Runtime, item_id: int) -> list[tuple[str, str, dict[str, object]]]:
    with runtime.sessions() as session:
        return [(e.actor, e.action, e.detail) for e in session.get_one(Item, item_id).events[1:]]


def act(runtime: Runtime, action: str, *args: object) -> None:
    with transaction(runtime.sessions) as session:
        getattr(triage, action)(session, *args)


def test_claim_release_assign_and_resolve_record_who_and_when(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    ann, bob = new_person(runtime.sessions, "ann"), new_person(runtime.sessions, "bob")
    act(runtime, "claim", item_id, ann)
    claimed = stored_item(runtime, item_id)
    assert (claimed.status, claimed.assignee_id) == ("claimed", ann.id)
    assert claimed.claimed_at is not None
    act(runtime, "release", item_id, ann)
    assert (stored_item(runtime, item_id).status, stored_item(runtime, item_id).assignee_id) == ("new", None)
    act(runtime, "assign", item_id, ann, "bob")
    act(runtime, "claim", item_id, ann)  # takes it back from bob
    # The first pick-up time stays: it measures how long the office took to react.
    assert stored_item(runtime, item_id).claimed_at == claimed.claimed_at
    act(runtime, "resolve", item_id, bob)
    resolved = stored_item(runtime, item_id)
    assert (resolved.status, resolved.assignee_id) == ("resolved", ann.id)
    assert resolved.resolved_at is not None
    assert events(runtime, item_id) == [
        ("ann", "claimed", {}),
        ("ann", "released", {"from": "ann"}),
        ("ann", "assigned", {"to": "bob"}),
        ("ann", "claimed", {"from": "bob"}),
        ("bob", "resolved", {}),
    ]


def test_release_refuses_an_item_nobody_has(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    with pytest.raises(triage.TriageError, match="is not claimed by anyone"):
        act(runtime, "release", item_id, new_person(runtime.sessions, "ann"))


def test_reopen_brings_a_resolved_item_back_to_whoever_had_it(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    ann = new_person(runtime.sessions, "ann")
    act(runtime, "claim", item_id, ann)
    act(runtime, "resolve", item_id, ann)
    act(runtime, "reopen", item_id, ann)
    item = stored_item(runtime, item_id)
    assert (item.status, item.assignee_id, item.resolved_at) == ("claimed", ann.id, None)


def test_spam_leaves_the_queue_and_reopen_takes_the_mark_off(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    ann = new_person(runtime.sessions, "ann")
    act(runtime, "mark_spam", item_id, ann)
    assert (stored_item(runtime, item_id).spam, stored_item(runtime, item_id).status) == (True, "resolved")
    act(runtime, "reopen", item_id, ann)
    assert (stored_item(runtime, item_id).spam, stored_item(runtime, item_id).status) == (False, "new")


def test_a_reroute_puts_the_item_new_in_the_other_queue(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    ann = new_person(runtime.sessions, "ann")
    act(runtime, "claim", item_id, ann)
    act(runtime, "reroute", item_id, ann, "billing", "it is about an invoice")
    item = stored_item(runtime, item_id)
    assert (item.department_id, item.status, item.assignee_id) == ("billing", "new", None)


def test_priority_due_and_notes_are_kept_with_their_history(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    ann = new_person(runtime.sessions, "ann")
    due = MONDAY + timedelta(days=1)
    act(runtime, "set_priority", item_id, ann, "urgent")
    act(runtime, "set_due", item_id, ann, due)
    act(runtime, "add_note", item_id, ann, "  Called back, no answer.  ")
    act(runtime, "set_due", item_id, ann, None)
    item = stored_item(runtime, item_id)
    assert (item.priority, item.due_at) == ("urgent", None)
    assert events(runtime, item_id) == [
        ("ann", "prioritised", {"from": "normal", "to": "urgent"}),
        ("ann", "due", {"at": due.isoformat()}),
        ("ann", "note", {"text": "Called back, no answer."}),
        ("ann", "due", {"at": None}),
    ]


def test_settling_actions_clear_the_decision_mark_and_others_do_not(runtime: Runtime) -> None:
    item_id = deliver(runtime, to="nobody@elsewhere.example")
    assert stored_item(runtime, item_id).decision_needed == "no rule or address chose a department"
    ann = new_person(runtime.sessions, "ann")
    act(runtime, "add_note", item_id, ann, "Who is this for?")
    act(runtime, "set_priority", item_id, ann, "high")
    assert stored_item(runtime, item_id).decision_needed == "no rule or address chose a department"
    act(runtime, "confirm", item_id, ann)
    assert stored_item(runtime, item_id).decision_needed is None
    with pytest.raises(triage.TriageError, match="needs no decision"):
        act(runtime, "confirm", item_id, ann)


def _refusals(ann: Person) -> list[tuple[str, tuple[object, ...], str]]:
    """Actions on an item ann has claimed that must be refused, with the reason given."""
    return [
        ("claim", (ann,), "is already yours"),
        ("assign", (ann, "nobody"), "there is no one called 'nobody' who works on sales"),
        ("assign", (ann, "bea"), "there is no one called 'bea' who works on sales"),
        ("assign", (ann, "ann"), "is already ann's"),
        ("set_priority", (ann, "critical"), "priority must be one of low, normal, high, urgent"),
        ("set_priority", (ann, "normal"), "is already normal priority"),
        ("set_due", (ann, datetime(2026, 12, 1, 9, 0)), "a due time needs a time zone"),
        ("set_due", (ann, None), "is already due then"),
        ("add_note", (ann, "   "), "a note needs some text"),
        ("add_note", (ann, "x" * 10_001), "a note is at most 10,000 characters"),
        ("reopen", (ann,), "is open already"),
        ("confirm", (ann,), "needs no decision"),
    ]


def test_every_refused_action_says_why_and_changes_nothing(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    ann = new_person(runtime.sessions, "ann")
    new_person(runtime.sessions, "bea", role="staff", departments=["billing"])  # cannot see sales
    act(runtime, "claim", item_id, ann)
    before = (stored_item(runtime, item_id).status, len(events(runtime, item_id)))
    for action, args, message in _refusals(ann):
        with pytest.raises(triage.TriageError, match=message), transaction(runtime.sessions) as session:
            getattr(triage, action)(session, item_id, *args)
    assert (stored_item(runtime, item_id).status, len(events(runtime, item_id))) == before


def test_a_resolved_item_must_be_reopened_before_it_is_worked_on(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    ann = new_person(runtime.sessions, "ann")
    act(runtime, "resolve", item_id, ann)
    for action, args in (("claim", ()), ("resolve", ()), ("assign", ("ann",))):
        with pytest.raises(triage.TriageError, match="is resolved; reopen it first"):
            act(runtime, action, item_id, ann, *args)
    act(runtime, "mark_spam", item_id, ann)  # resolved, not yet spam: allowed
    with pytest.raises(triage.TriageError, match="marked as spam already"):
        act(runtime, "mark_spam", item_id, ann)


def test_staff_act_only_on_their_departments_items(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    bea = new_person(runtime.sessions, "bea", role="staff", departments=["billing"])
    with pytest.raises(triage.NoSuchItem, match=f"there is no item {item_id}"):
        act(runtime, "claim", item_id, bea)
    assert stored_item(runtime, item_id).status == "new"


def test_bulk_does_what_it_can_and_reports_the_rest(runtime: Runtime) -> None:
    first, second = deliver(runtime, "<b1@c>"), deliver(runtime, "<b2@c>")
    ann = new_person(runtime.sessions, "ann")
    act(runtime, "resolve", second, ann)

    def resolve_each(session: Session) -> triage.BulkResult:
        return triage.bulk([first, second, first, 999], lambda item_id: triage.resolve(session, item_id, ann))

    with transaction(runtime.sessions) as session:
        result = resolve_each(session)
    assert result.done == [first]
    assert result.refused == {
        second: f"item {second} is resolved; reopen it first",
        999: "there is no item 999",
    }
    assert stored_item(runtime, first).status == "resolved"
