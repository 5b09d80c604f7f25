"""Erasing a person erases theirs alone: another person's item merged into one of theirs
goes back to its queue, and the learned words others taught stay."""

from __future__ import annotations

from sqlalchemy import select

from intake.cli.runtime import Runtime
from routing.contacts.erasure import erase_contact
from routing.contacts.suggestions import merge_items
from routing.store.database import transaction
from routing.store.models import AuditEvent, Contact, Item, LearnedWord
from tests.support.contacts import RECEPTION, two_people


def test_another_persons_item_merged_into_theirs_is_unmerged_not_erased(runtime: Runtime) -> None:
    people = two_people(runtime)
    [bob] = people.bob_items
    with transaction(runtime.sessions) as session:
        merge_items(
            session, session.get_one(Item, bob), session.get_one(Item, people.ana_items[1]), RECEPTION
        )
    with transaction(runtime.sessions) as session:
        erased = erase_contact(session, session.get_one(Contact, people.ana_contact), "test")
    assert erased.items == 3
    with transaction(runtime.sessions, write=False) as session:
        item = session.get_one(Item, bob)
        assert (item.status, item.merged_into_id) == ("new", None)
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.item_id == bob)).all()
        assert actions[-2:] == ["merged into", "unmerged"]
        words = set(session.scalars(select(LearnedWord.word).where(LearnedWord.department_id == "billing")))
    assert "invoic" in " ".join(words) and "from:bob@other.example" in words
